"""What each person may do next, and why not: ``available_actions`` and the services agree.

For every action of the transition table and every role, one case in a state the action
starts from: the selector's answer (allowed, or a refusal code) must match the expected cell
below, and the service, called by that person, must do exactly what the selector said (go
through, or raise the same code). A transition added to the table without a row here fails
``test_every_action_of_the_table_has_a_row``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from approvals.services import approval_deny, approval_grant
from cases.execution import execution_give_up, execution_run
from cases.models import RecoveryCase
from cases.selectors import available_actions
from cases.services import (
    case_abandon,
    case_break_glass,
    case_claim,
    case_dispute,
    case_end_hold,
    case_execute,
    case_expire,
    case_flag_fraud,
    case_gap_release,
    case_reject,
    case_release,
    case_retry_execution,
    case_verify,
)
from cases.states import Kind
from cases.transitions import TRANSITIONS
from directory.models import RiskTier
from recovery_desk import clock as one_clock
from recovery_desk.actors import SUBJECT, SYSTEM
from recovery_desk.errors import DomainError
from tests.cases.builders import check_totp, current_code, open_case
from tests.cases.factories import make_agent
from tests.directory.factories import AuthenticatorFactory
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    claimed_case,
    escalated_case,
    executing_case,
    execution_failed_case,
    pass_totp,
    ready_case,
)
from verification.methods import METHODS

pytestmark = pytest.mark.django_db

ROLES = ("agent", "other_agent", "manager", "reviewer", "subject", "system")
REASON = "Reviewed with the subject's manager"


@dataclass
class Scene:
    agent: object  # claims and works the case
    opener: object  # opened it (another agent)
    other_agent: object  # an agent of the queue with no part in the case
    manager: object
    other_manager: object
    reviewer: object
    clock: object

    def actor(self, role: str):
        if role == "subject":
            return SUBJECT
        if role == "system":
            return SYSTEM
        return getattr(self, role)


def _verifying_with_evidence(s):
    case = claimed_case(agent=s.agent, opener=s.opener)
    pass_totp(case, s.agent)
    return case


def _cooling_off_elapsed(s):
    """Standard MFA re-bind: one approval, then a one-hour hold, which has passed."""
    case = claimed_case(agent=s.agent, opener=s.opener, kind=Kind.MFA_REBIND)
    pass_totp(case, s.agent)
    case_verify(case=case, actor=s.agent)
    approval_grant(case=case, approver=s.other_manager, reason=REASON)
    case.refresh_from_db()
    s.clock.move_to(case.hold_until + timedelta(seconds=1))
    return case


def _past_deadline(s):
    case = open_case(opener=s.opener)
    s.clock.move_to(case.expires_at)
    return case


def _check_evidence(case, actor):
    authenticator = AuthenticatorFactory(identity=case.subject)
    return check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=actor
    )


@dataclass(frozen=True)
class Row:
    build: Callable
    allowed: frozenset[str]
    # The service as this person would call it; None where it takes no actor (the system's
    # and the subject's steps): there the selector's answer is the whole story for staff.
    run: Callable | None = None
    run_as_itself: Callable | None = None  # the actor-less service, for its own actor


def _row(build, allowed, run=None, itself=None) -> Row:
    return Row(build, frozenset(allowed), run, itself)


ROWS: dict[str, Row] = {
    "claim": _row(
        lambda s: open_case(opener=s.opener),
        {"agent", "other_agent"},
        lambda case, a: case_claim(case=case, agent=a),
    ),
    "check_evidence": _row(
        lambda s: claimed_case(agent=s.agent, opener=s.opener), {"agent"}, _check_evidence
    ),
    "verify": _row(
        _verifying_with_evidence, {"agent"}, lambda case, a: case_verify(case=case, actor=a)
    ),
    "escalate": _row(lambda s: claimed_case(agent=s.agent, opener=s.opener), {"system"}),
    "flag_fraud": _row(
        lambda s: ready_case(agent=s.agent, opener=s.opener),
        {"agent", "other_agent", "reviewer"},
        lambda case, a: case_flag_fraud(case=case, actor=a, reason=REASON),
    ),
    "release": _row(
        lambda s: escalated_case(agent=s.agent, opener=s.opener),
        {"reviewer"},
        lambda case, a: case_release(case=case, actor=a, reason=REASON),
    ),
    "approve": _row(
        lambda s: awaiting_approval_case(agent=s.agent, opener=s.opener),
        {"manager"},
        lambda case, a: approval_grant(case=case, approver=a, reason=REASON),
    ),
    "deny": _row(
        lambda s: awaiting_approval_case(agent=s.agent, opener=s.opener),
        {"manager"},
        lambda case, a: approval_deny(case=case, approver=a, reason=REASON),
    ),
    "reject": _row(
        lambda s: claimed_case(agent=s.agent, opener=s.opener),
        {"agent"},
        lambda case, a: case_reject(case=case, actor=a, reason=REASON),
    ),
    "end_hold": _row(
        _cooling_off_elapsed, {"system"}, itself=lambda case: case_end_hold(case=case)
    ),
    "execute": _row(
        lambda s: ready_case(agent=s.agent, opener=s.opener),
        {"agent"},
        lambda case, a: case_execute(case=case, actor=a),
    ),
    "execution_done": _row(
        lambda s: executing_case(agent=s.agent, opener=s.opener),
        {"system"},
        itself=lambda case: execution_run(case_id=case.pk),
    ),
    "execution_failed": _row(
        lambda s: executing_case(agent=s.agent, opener=s.opener),
        {"system"},
        itself=lambda case: execution_give_up(case_id=case.pk, error="No answer."),
    ),
    "retry_execution": _row(
        lambda s: execution_failed_case(agent=s.agent, opener=s.opener),
        {"agent"},
        lambda case, a: case_retry_execution(case=case, actor=a),
    ),
    "abandon": _row(
        lambda s: execution_failed_case(agent=s.agent, opener=s.opener),
        {"agent", "other_agent"},
        lambda case, a: case_abandon(case=case, actor=a, reason=REASON),
    ),
    "break_glass": _row(
        lambda s: awaiting_approval_case(agent=s.agent, opener=s.opener),
        {"reviewer"},
        lambda case, a: case_break_glass(
            case=case, actor=a, reason="approvers_unreachable", justification=JUSTIFICATION
        ),
    ),
    "gap_release": _row(
        lambda s: claimed_case(agent=s.agent, opener=s.opener),
        {"reviewer"},
        lambda case, a: case_gap_release(case=case, actor=a, reason=REASON),
    ),
    "dispute": _row(
        lambda s: claimed_case(agent=s.agent, opener=s.opener),
        {"subject"},
        itself=lambda case: case_dispute(case=case, statement="This was not me."),
    ),
    "expire": _row(_past_deadline, {"system"}, itself=lambda case: case_expire(case=case)),
}


def test_every_action_of_the_table_has_a_row():
    assert set(ROWS) == set(TRANSITIONS)


def _selector_name(name: str) -> str:
    return f"evidence:{METHODS['totp'].code}" if name == "check_evidence" else name


@pytest.fixture
def scene(clock, agent, other_agent, manager, other_manager, security_reviewer):
    opener = make_agent(username="agent.opener")
    return Scene(agent, opener, other_agent, manager, other_manager, security_reviewer, clock)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(ROWS))
def test_the_selector_and_the_service_agree(name, role, scene):
    row = ROWS[name]
    case = row.build(scene)
    actor = scene.actor(role)
    case = RecoveryCase.objects.select_related("queue", "subject__owner").get(pk=case.pk)
    answers = {a.name: a for a in available_actions(case, actor, one_clock.now())}
    answer = answers[_selector_name(name)]

    assert answer.allowed == (role in row.allowed), (name, role, answer.refusal)
    if answer.refusal is not None:
        assert answer.refusal.code and answer.refusal.message.endswith(".")

    if row.run is not None:
        call = lambda: row.run(case, actor)  # noqa: E731
    elif row.run_as_itself is not None and role in row.allowed:
        call = lambda: row.run_as_itself(case)  # noqa: E731
    else:
        return  # a staff member has no way to call the system's or the subject's step
    if answer.allowed:
        call()
    else:
        with pytest.raises(DomainError) as excinfo:
            call()
        assert excinfo.value.code == answer.refusal.code


def test_the_answer_for_a_person_lists_every_action_and_every_evidence_method(scene):
    case = claimed_case(agent=scene.agent, opener=scene.opener)
    names = {a.name for a in available_actions(case, scene.agent, one_clock.now())}
    expected = {n for n in TRANSITIONS if n != "check_evidence"}
    assert names == expected | {f"evidence:{code}" for code in METHODS}


def test_a_refused_action_says_why_in_words(scene):
    case = claimed_case(agent=scene.agent, opener=scene.opener, tier=RiskTier.STANDARD)
    answers = {a.name: a for a in available_actions(case, scene.other_agent, one_clock.now())}
    assert answers["verify"].refusal.code == "not_assigned"
    assert "Only the agent who claimed" in answers["verify"].refusal.message
    assert answers["execute"].refusal.code == "wrong_state"
