"""Who may do what: every role against every staff action, one answer per cell.

The case is a contractor password reset (one manager approval, a one-hour hold). The agent
role works the case it acts on; everyone else acts on a case another agent works. The subject
holds every role, so any refusal comes from being the subject.
"""

from dataclasses import dataclass

import pytest

from approvals.services import approval_deny, approval_grant
from cases import roles
from cases.services import (
    case_break_glass,
    case_claim,
    case_claim_next,
    case_execute,
    case_gap_release,
    case_open,
    case_reject,
    case_release,
    case_verify,
)
from cases.states import Kind
from directory.models import RiskTier
from recovery_desk.errors import DomainError
from tests.cases.builders import check_totp, current_code
from tests.cases.factories import UserFactory, make_agent, make_manager, make_security_reviewer
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import claimed_case, end_hold, escalated_case, give_role, verified_case_for

REASON = "Reviewed with the subject's manager"
JUSTIFICATION = "Executive locked out before a board meeting."

# Refusals that mean "not you"; any other refusal is a broken scene, not an answer.
NOT_YOU = {
    "own_recovery",
    "not_agent",
    "not_agent_or_reviewer",
    "not_assigned",
    "role_revoked",
    "not_reviewer",
    "not_approver",
    "separation_of_duties",
    "already_decided",
}


@dataclass
class Scene:
    actor: object
    worker: object  # the agent who opens and works the case
    approver: object  # a manager other than the actor, for cases that must get past approval
    subject: object
    clock: object

    def claimed(self):
        return claimed_case(agent=self.worker, subject=self.subject)

    def verified(self):
        return verified_case_for(agent=self.worker, subject=self.subject)


def _open(s):
    return case_open(
        actor=s.actor, subject=s.subject, kind=Kind.PASSWORD_RESET, intake_channel="phone"
    )


def _claim(s):
    case = case_open(
        actor=s.worker, subject=s.subject, kind=Kind.PASSWORD_RESET, intake_channel="phone"
    )
    return case_claim(case=case, agent=s.actor)


def _claim_next(s):
    case = case_open(
        actor=s.worker, subject=s.subject, kind=Kind.PASSWORD_RESET, intake_channel="phone"
    )
    return case_claim_next(queue=case.queue, agent=s.actor)


def _check_evidence(s):
    case = s.claimed()
    authenticator = AuthenticatorFactory(identity=s.subject)
    return check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=s.actor
    )


def _verify(s):
    case = s.claimed()
    authenticator = AuthenticatorFactory(identity=s.subject)
    check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=s.worker
    )
    return case_verify(case=case, actor=s.actor)


def _execute(s):
    case = s.verified()
    approval_grant(case=case, approver=s.approver, reason=REASON)
    case.refresh_from_db()
    return case_execute(case=end_hold(case, s.clock), actor=s.actor)


ACTIONS = {
    "open": _open,
    "claim": _claim,
    "claim_next": _claim_next,
    "check_evidence": _check_evidence,
    "verify": _verify,
    "approve": lambda s: approval_grant(case=s.verified(), approver=s.actor, reason=REASON),
    "deny": lambda s: approval_deny(case=s.verified(), approver=s.actor, reason=REASON),
    "release": lambda s: case_release(
        case=escalated_case(agent=s.worker, subject=s.subject), actor=s.actor, reason=REASON
    ),
    "gap_release": lambda s: case_gap_release(case=s.claimed(), actor=s.actor, reason=REASON),
    "reject": lambda s: case_reject(case=s.claimed(), actor=s.actor, reason=REASON),
    "execute": _execute,
    "break_glass": lambda s: case_break_glass(
        case=s.verified(),
        actor=s.actor,
        reason="approvers_unreachable",
        justification=JUSTIFICATION,
    ),
}


def _subject_as_staff(username):
    user = make_agent(username=username)
    give_role(user, roles.MANAGERS, roles.APPROVE)
    give_role(user, roles.SECURITY_REVIEWERS, roles.REVIEW, roles.APPROVE)
    return user


MAKE_ACTOR = {
    "agent": make_agent,
    "manager": make_manager,
    "security_reviewer": make_security_reviewer,
    "plain_staff": UserFactory,
    "superuser": lambda username: UserFactory(username=username, is_superuser=True),
    "subject": _subject_as_staff,
}

ALLOWED = {
    "open": {"agent"},
    "claim": {"agent"},
    "claim_next": {"agent"},
    "check_evidence": {"agent"},
    "verify": {"agent"},
    "approve": {"manager"},
    "deny": {"manager"},
    "release": {"security_reviewer"},
    "gap_release": {"security_reviewer"},
    "reject": {"agent"},
    "execute": {"agent"},
    "break_glass": {"security_reviewer"},
}


def outcome(action: str, scene: Scene) -> str:
    """'allowed' if the action went through, 'refused' if the actor was turned away."""
    try:
        result = ACTIONS[action](scene)
    except DomainError as error:
        if error.code not in NOT_YOU:
            raise
        return "refused"
    return "refused" if result is None else "allowed"  # claim_next found nothing for you


def _cells():
    for role in MAKE_ACTOR:
        for action in ACTIONS:
            yield pytest.param(role, action, id=f"{role}-{action}")


@pytest.mark.parametrize(("role", "action"), list(_cells()))
def test_who_may_do_what(role, action, clock, db):
    actor = MAKE_ACTOR[role](username=f"actor.{role}")
    worker = actor if role == "agent" else make_agent(username="agent.worker")
    scene = Scene(
        actor=actor,
        worker=worker,
        approver=make_manager(username="manager.approver"),
        subject=IdentityFactory(
            risk_tier=RiskTier.CONTRACTOR, staff_user=actor if role == "subject" else None
        ),
        clock=clock,
    )
    expected = "allowed" if role in ALLOWED[action] else "refused"
    assert outcome(action, scene) == expected
