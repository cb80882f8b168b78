"""Each clause of each guard on its own: every test here fails if its clause is removed
(checked by mutating the guard), so no guard rests on another one's test."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.services import approval_deny, approval_grant
from cases import roles
from cases.execution import execution_run
from cases.models import PolicyRule, Queue
from cases.services import (
    case_break_glass,
    case_claim_next,
    case_execute,
    case_gap_release,
    case_reject,
    case_release,
    case_verify,
)
from cases.states import Kind, State
from cases.sweep import case_sweep_due
from directory.connectors import Capability
from directory.models import AccountState, Authenticator, Identity, RiskTier
from tests.cases.builders import check_totp, current_code, open_case
from tests.cases.factories import make_security_reviewer
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    cancelled_case,
    claimed_case,
    completed_case,
    end_hold,
    escalated_case,
    executed,
    expired_case,
    give_role,
    pass_totp,
    ready_case,
    refused,
    rejected_case,
    verified_case_for,
)


def _read_code(case, agent):
    """Enrol a fresh authenticator for the subject; return the check of its current code."""
    authenticator = AuthenticatorFactory(identity=case.subject)
    return lambda: check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
    )


def _edit_rule(kind: str, tier: str, **values) -> None:
    """Edit the policy row before a case is opened (a case pins the policy at opening)."""
    assert PolicyRule.objects.filter(kind=kind, risk_tier=tier).update(**values) == 1


# --- the authenticator named for replacement ----------------------------------------------


def _rebind_attempt_for(subject, agent, authenticator, *, kind=Kind.MFA_REBIND):
    return open_case(opener=agent, kind=kind, subject=subject, replaced_authenticator=authenticator)


def test_a_rebind_cannot_name_another_persons_authenticator_for_replacement(clock, agent):
    subject = IdentityFactory()
    witness = open_case(opener=agent, subject=subject)  # any write would show on it
    someone_elses = AuthenticatorFactory(identity=IdentityFactory())
    with refused(witness, code="bad_authenticator"):
        _rebind_attempt_for(subject, agent, someone_elses)


def test_a_rebind_cannot_name_a_revoked_authenticator_for_replacement(clock, agent):
    subject = IdentityFactory()
    witness = open_case(opener=agent, subject=subject)
    revoked = AuthenticatorFactory(identity=subject)
    Authenticator.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    revoked.refresh_from_db()
    with refused(witness, code="bad_authenticator"):
        _rebind_attempt_for(subject, agent, revoked)


def test_a_password_reset_cannot_name_an_authenticator_to_replace(clock, agent):
    subject = IdentityFactory(account_state=AccountState.LOCKED)  # may have a reactivation open
    witness = open_case(opener=agent, subject=subject, kind=Kind.REACTIVATION)
    own_active = AuthenticatorFactory(identity=subject)
    with refused(witness, code="bad_authenticator"):
        _rebind_attempt_for(subject, agent, own_active, kind=Kind.PASSWORD_RESET)


# --- independence when every authenticator is being replaced -----------------------------


def test_a_rebind_replacing_every_authenticator_accepts_no_totp_evidence(clock, agent):
    case = claimed_case(agent=agent, kind=Kind.MFA_REBIND, replaced_authenticator=None)
    assert case.replaced_authenticator_id is None
    check_code = _read_code(case, agent)
    with refused(case, code="not_independent"):
        check_code()


# --- rejecting an escalated case ---------------------------------------------------------


@pytest.mark.parametrize("who", ["assigned agent", "manager"])
def test_only_a_security_reviewer_may_reject_an_escalated_case(who, clock, agent, manager):
    case = escalated_case(agent=agent)
    assert case.state == State.ESCALATED
    actor = {"assigned agent": agent, "manager": manager}[who]
    with refused(case, code="not_reviewer"):
        case_reject(case=case, actor=actor, reason="Looks like fraud to me")


# --- the score and the number of independent methods, each on its own --------------------


def test_verification_refuses_a_score_below_the_policy_even_with_enough_methods(clock, agent):
    _edit_rule(Kind.PASSWORD_RESET, RiskTier.STANDARD, min_evidence_score=3)
    case = claimed_case(agent=agent)
    pass_totp(case, agent)  # one method, score 2
    with refused(case, code="insufficient_evidence") as excinfo:
        case_verify(case=case, actor=agent)
    assert "scores 2 of the 3" in str(excinfo.value)


def test_two_totp_authenticators_count_as_one_independent_method(clock, agent):
    _edit_rule(
        Kind.PASSWORD_RESET, RiskTier.STANDARD, min_evidence_score=2, min_independent_methods=2
    )
    case = claimed_case(agent=agent)
    pass_totp(case, agent)
    pass_totp(case, agent)  # a second authenticator: the same factor, the score stays met
    with refused(case, code="insufficient_evidence") as excinfo:
        case_verify(case=case, actor=agent)
    assert "scores 2 of the 2" in str(excinfo.value)
    assert "from 1 of 2 independent methods" in str(excinfo.value)


# --- a method the pinned policy does not allow -------------------------------------------


def test_totp_evidence_is_refused_when_the_pinned_policy_does_not_allow_it(clock, agent):
    _edit_rule(Kind.PASSWORD_RESET, RiskTier.STANDARD, allowed_methods=[])
    case = claimed_case(agent=agent)
    assert case.policy_snapshot["allowed_methods"] == []
    check_code = _read_code(case, agent)
    with refused(case, code="method_not_allowed"):
        check_code()


# --- the recovery gap --------------------------------------------------------------------


def test_a_completed_recovery_of_another_kind_does_not_start_the_gap(clock, agent):
    subject = IdentityFactory(risk_tier=RiskTier.STANDARD)
    completed_case(agent=agent, subject=subject)  # a password reset, just now
    rebind = claimed_case(agent=agent, subject=subject, kind=Kind.MFA_REBIND)
    pass_totp(rebind, agent)
    # A standard MFA re-bind has a one-day gap: only an earlier re-bind may trigger it.
    assert case_verify(case=rebind, actor=agent).state == State.AWAITING_APPROVAL


EARLIER_UNSUCCESSFUL = {
    "rejected": lambda agent, clock, subject: rejected_case(agent=agent, subject=subject),
    "expired": lambda agent, clock, subject: expired_case(
        agent=agent, clock=clock, subject=subject
    ),
    "cancelled": lambda agent, clock, subject: cancelled_case(agent=agent, subject=subject),
}


@pytest.mark.parametrize("earlier", EARLIER_UNSUCCESSFUL)
def test_an_earlier_case_that_did_not_complete_does_not_start_the_gap(earlier, clock, agent):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)  # password reset gap: one day
    first = EARLIER_UNSUCCESSFUL[earlier](agent, clock, subject)
    assert first.closed_at == timezone.now()
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    assert case_verify(case=second, actor=agent).state == State.AWAITING_APPROVAL


def test_a_break_glassed_recovery_inside_the_gap_is_refused_at_execute(
    clock, agent, manager, security_reviewer
):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    first = verified_case_for(agent=agent, subject=subject)
    approval_grant(case=first, approver=manager, reason="Spoke to the vendor manager")
    first.refresh_from_db()
    executed(end_hold(first, clock), agent)
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)  # break-glass never skips the minimum verification
    second = case_break_glass(case=second, actor=security_reviewer, justification=JUSTIFICATION)
    assert second.state == State.READY
    with refused(second, code="recovery_gap"):
        case_execute(case=second, actor=agent)


# --- a reviewer who worked the case cannot oversee it ------------------------------------


@pytest.fixture
def reviewer_agent(db):
    user = make_security_reviewer(username="security.agent.gina")
    give_role(user, roles.AGENTS, roles.WORK)
    return user


def _worked_by(part: str, reviewer, agent, *, escalate: bool):
    opener, claimer = (reviewer, agent) if part == "opened" else (agent, reviewer)
    staff = {"opener": opener, "agent": claimer}
    return escalated_case(**staff) if escalate else claimed_case(**staff)


OVERSIGHT = {
    "release": (
        True,
        lambda case, actor: case_release(case=case, actor=actor, reason="Reviewed the calls"),
    ),
    "break_glass": (
        False,
        lambda case, actor: case_break_glass(case=case, actor=actor, justification=JUSTIFICATION),
    ),
}


@pytest.mark.parametrize("action", OVERSIGHT)
@pytest.mark.parametrize("part", ["opened", "claimed"])
def test_a_security_reviewer_who_only_opened_or_only_claimed_a_case_cannot_oversee_it(
    part, action, clock, agent, reviewer_agent
):
    escalate, act = OVERSIGHT[action]
    case = _worked_by(part, reviewer_agent, agent, escalate=escalate)
    assert (case.opened_by_id == reviewer_agent.pk) == (part == "opened")
    assert (case.assigned_agent_id == reviewer_agent.pk) == (part == "claimed")
    assert case.verified_by_id is None
    with refused(case, code="separation_of_duties") as excinfo:
        act(case, reviewer_agent)
    assert "another security reviewer" in str(excinfo.value)


# --- cooling-off has no stage deadline ---------------------------------------------------


def test_a_case_cooling_off_past_its_old_approval_deadline_is_not_expired_by_the_sweep(
    clock, agent, manager, other_manager
):
    # Privileged MFA re-bind: two approvals within a day, then a 24-hour hold.
    case = awaiting_approval_case(agent=agent, kind=Kind.MFA_REBIND)
    approval_deadline = case.expires_at
    clock.shift(timedelta(hours=1))
    for approver in (manager, other_manager):
        approval_grant(case=case, approver=approver, reason="Checked the evidence")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    assert approval_deadline < case.hold_until
    clock.shift(approval_deadline + timedelta(minutes=1) - timezone.now())
    assert case_sweep_due(batch_size=50) == {
        "holds_ended": 0,
        "expired": 0,
        "executions_redriven": 0,
    }
    case.refresh_from_db()
    assert (case.state, case.expires_at) == (State.COOLING_OFF, None)


# --- claiming the next case --------------------------------------------------------------


def _own_subject_linked(agent):
    return IdentityFactory(staff_user=agent)


def _own_subject_by_name(agent):
    return IdentityFactory(username=agent.get_username().upper())


NOT_FOR_THIS_AGENT = {
    "own_linked_identity": _own_subject_linked,
    "own_username_other_case": _own_subject_by_name,
    "service_owned_via_link": lambda agent: IdentityFactory(
        risk_tier=RiskTier.SERVICE, owner=_own_subject_linked(agent)
    ),
    "service_owned_via_username": lambda agent: IdentityFactory(
        risk_tier=RiskTier.SERVICE, owner=_own_subject_by_name(agent)
    ),
}


@pytest.mark.parametrize("skipped", [*NOT_FOR_THIS_AGENT, "overdue"])
def test_claim_next_skips_the_agents_own_and_overdue_cases_for_the_next_claimable_one(
    skipped, clock, agent, other_agent
):
    if skipped == "overdue":
        older = open_case(opener=other_agent)
        clock.shift(timedelta(hours=12))
    else:
        older = open_case(opener=other_agent, subject=NOT_FOR_THIS_AGENT[skipped](agent))
    claimable = open_case(opener=other_agent)
    if skipped == "overdue":
        clock.shift(older.expires_at - timezone.now())
        assert timezone.now() < claimable.expires_at
    queue = Queue.objects.get(kind=Kind.PASSWORD_RESET)
    claimed = case_claim_next(queue=queue, agent=agent)
    assert claimed is not None
    assert (claimed.pk, claimed.state, claimed.assigned_agent_id) == (
        claimable.pk,
        State.VERIFYING,
        agent.pk,
    )
    older.refresh_from_db()
    assert (older.state, older.assigned_agent_id) == (State.NEW, None)


# --- the agent turns out to be the subject ----------------------------------------------


def _link_subject_to(case, user) -> None:
    assert Identity.objects.filter(pk=case.subject_id).update(staff_user=user) == 1


def _verifiable(agent):
    case = claimed_case(agent=agent)
    pass_totp(case, agent)
    return case


SUBJECT_STEPS = {
    "verify": (_verifiable, lambda case, agent: case_verify(case=case, actor=agent)),
    "execute": (
        lambda agent: ready_case(agent=agent),
        lambda case, agent: case_execute(case=case, actor=agent),
    ),
}


@pytest.mark.parametrize("step", SUBJECT_STEPS)
def test_an_agent_found_to_be_the_subject_after_claiming_cannot_go_on(step, clock, agent):
    build, act = SUBJECT_STEPS[step]
    case = build(agent)
    _link_subject_to(case, agent)
    with refused(case, code="own_recovery") as excinfo:
        act(case, agent)
    assert "their own account" in str(excinfo.value)


# --- decisions need a reason ------------------------------------------------------------

REASONED = {
    "release": (
        lambda s: escalated_case(agent=s["agent"]),
        lambda case, s, reason: case_release(case=case, actor=s["reviewer"], reason=reason),
    ),
    "gap_release": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s, reason: case_gap_release(case=case, actor=s["reviewer"], reason=reason),
    ),
    "reject": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s, reason: case_reject(case=case, actor=s["agent"], reason=reason),
    ),
    "approve": (
        lambda s: awaiting_approval_case(agent=s["agent"]),
        lambda case, s, reason: approval_grant(case=case, approver=s["manager"], reason=reason),
    ),
    "deny": (
        lambda s: awaiting_approval_case(agent=s["agent"]),
        lambda case, s, reason: approval_deny(case=case, approver=s["manager"], reason=reason),
    ),
}


@pytest.mark.parametrize("reason", ["", "  \t "], ids=["empty", "whitespace"])
@pytest.mark.parametrize("action", REASONED)
def test_a_decision_with_a_blank_reason_is_refused(
    action, reason, clock, agent, manager, security_reviewer
):
    staff = {"agent": agent, "manager": manager, "reviewer": security_reviewer}
    build, act = REASONED[action]
    case = build(staff)
    with refused(case, code="reason_required"):
        act(case, staff, reason)


# --- one gap release per case -----------------------------------------------------------


def test_a_case_cannot_be_gap_released_twice(clock, agent, security_reviewer):
    case = claimed_case(agent=agent)
    case_gap_release(case=case, actor=security_reviewer, reason="Second reset agreed")
    second_reviewer = make_security_reviewer(username="security.hank")
    with refused(case, code="already_released"):
        case_gap_release(case=case, actor=second_reviewer, reason="Releasing it again")


# --- a case that is not ready never reaches the directory -------------------------------


class SpyConnector:
    """Records every directory action, and the idempotency key it came with."""

    name = "spy"
    capabilities = frozenset(Capability)

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _record(self, action: str, key: str) -> int:
        self.calls.append((action, key))
        return 0

    def set_password(self, identity, *, password, idempotency_key=""):
        return self._record("set_password", idempotency_key)

    def unlock(self, identity, *, idempotency_key=""):
        return self._record("unlock", idempotency_key)

    def enable(self, identity, *, idempotency_key=""):
        return self._record("enable", idempotency_key)

    def disable(self, identity, *, idempotency_key=""):
        return self._record("disable", idempotency_key)

    def revoke_sessions(self, identity, *, idempotency_key=""):
        return self._record("revoke_sessions", idempotency_key)

    def replace_authenticators(self, identity, *, authenticator_ids=None, idempotency_key=""):
        return self._record("replace_authenticators", idempotency_key)


@pytest.fixture
def spy_connector(monkeypatch):
    spy = SpyConnector()
    monkeypatch.setattr("cases.execution.configured_connector", lambda: spy)
    return spy


def test_the_directory_is_called_only_by_the_task_with_the_case_reference_as_key(
    clock, agent, spy_connector
):
    case = case_execute(case=ready_case(agent=agent), actor=agent)
    assert spy_connector.calls == []  # the hand-off commits first; nothing is called under it
    execution_run(case_id=case.pk)
    key = case.reference
    assert spy_connector.calls == [("unlock", key), ("revoke_sessions", key)]


def test_executing_a_case_that_is_not_ready_never_touches_the_directory(
    clock, agent, spy_connector
):
    case = _verifiable(agent)  # being verified, with passing evidence, but not yet ready
    with refused(case, code="wrong_state"):
        case_execute(case=case, actor=agent)
    assert spy_connector.calls == []


# --- a disabled account is reactivated first -------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.PASSWORD_RESET, Kind.MFA_REBIND])
def test_a_disabled_account_gets_no_reset_or_rebind_before_its_reactivation(clock, agent, kind):
    subject = IdentityFactory(account_state=AccountState.DISABLED)
    witness = open_case(opener=agent, kind=Kind.REACTIVATION, subject=subject)
    with refused(witness, code="account_disabled") as excinfo:
        open_case(opener=agent, kind=kind, subject=subject)
    assert "reactivation case" in str(excinfo.value)


def test_a_completed_password_reset_ends_the_lockout_of_a_locked_account(clock, agent):
    subject = IdentityFactory(account_state=AccountState.LOCKED)
    case = executed(ready_case(agent=agent, subject=subject), agent)
    subject.refresh_from_db()
    assert (case.state, subject.account_state) == (State.COMPLETED, AccountState.ACTIVE)
