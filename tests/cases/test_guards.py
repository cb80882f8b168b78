"""Every guard violated once: refused with a code and a sentence, and nothing written."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.services import approval_deny, approval_grant
from cases import roles
from cases.models import PolicyRule, RecoveryCase
from cases.services import (
    case_break_glass,
    case_claim,
    case_dispute,
    case_end_hold,
    case_execute,
    case_expire,
    case_gap_release,
    case_reject,
    case_release,
    case_verify,
)
from cases.states import OPEN_STATES, TERMINAL_STATES, Kind, State
from directory.models import RiskTier
from tests.cases.builders import check_totp, current_code, open_case
from tests.cases.factories import make_agent
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import (
    JUSTIFICATION,
    abandoned_case,
    awaiting_approval_case,
    cancelled_case,
    claimed_case,
    completed_case,
    cooling_off_case,
    end_hold,
    escalated_case,
    executed,
    executing_case,
    execution_failed_case,
    expired_case,
    fail_totp,
    give_role,
    pass_totp,
    ready_case,
    refused,
    rejected_case,
    verified_case_for,
)


@pytest.fixture
def agent_and_manager(db):
    user = make_agent(username="agent.manager.frank")
    give_role(user, roles.MANAGERS, roles.APPROVE)
    return user


# --- separation of duties at approval ------------------------------------------------------


def test_the_subject_cannot_approve_their_own_recovery(clock, agent, manager):
    subject = IdentityFactory(risk_tier=RiskTier.PRIVILEGED, staff_user=manager)
    case = verified_case_for(agent=agent, subject=subject)
    with refused(case, code="own_recovery"):
        approval_grant(case=case, approver=manager, reason="Looks fine to me")


def test_an_approver_cannot_approve_the_same_case_twice(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason="Spoke to the subject's manager")
    with refused(case, code="already_decided"):
        approval_grant(case=case, approver=manager, reason="Approving again")


def test_the_agent_who_verified_a_case_cannot_approve_it(clock, agent, agent_and_manager):
    case = awaiting_approval_case(agent=agent_and_manager, opener=agent)
    with refused(case, code="separation_of_duties"):
        approval_grant(case=case, approver=agent_and_manager, reason="I checked it myself")


def test_the_person_who_opened_a_case_cannot_approve_it(clock, agent, agent_and_manager):
    case = awaiting_approval_case(agent=agent, opener=agent_and_manager)
    with refused(case, code="separation_of_duties"):
        approval_grant(case=case, approver=agent_and_manager, reason="I took the call")


# --- claiming, verifying, holding ----------------------------------------------------------


def test_a_claimed_case_cannot_be_claimed_again(clock, agent, other_agent):
    case = claimed_case(agent=agent)
    with refused(case, code="wrong_state") as excinfo:
        case_claim(case=case, agent=other_agent)
    assert "is verifying; 'claim' is not possible" in str(excinfo.value)


def test_verification_refuses_evidence_below_the_policy_naming_the_score(clock, agent):
    case = claimed_case(agent=agent)
    fail_totp(case, agent)
    with refused(case, code="insufficient_evidence") as excinfo:
        case_verify(case=case, actor=agent)
    assert "scores 0 of the 2" in str(excinfo.value)


def test_a_case_cannot_complete_before_its_cooling_off_ends(clock, agent, manager, other_manager):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager], kind=Kind.MFA_REBIND)
    clock.shift(timedelta(hours=23, minutes=59))
    with refused(case, code="wrong_state") as excinfo:
        case_execute(case=case, actor=agent)
    assert "is cooling off; 'execute' is not possible" in str(excinfo.value)


def test_a_hold_cannot_end_before_hold_until(clock, agent, manager, other_manager):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    clock.shift(case.hold_until - timezone.now() - timedelta(seconds=1))
    with refused(case, code="cooling_off"):
        case_end_hold(case=case)


# --- closed cases --------------------------------------------------------------------------

TERMINAL_BUILDERS = {
    State.COMPLETED: lambda staff: completed_case(agent=staff["agent"]),
    State.REJECTED: lambda staff: rejected_case(agent=staff["agent"]),
    State.CANCELLED: lambda staff: cancelled_case(agent=staff["agent"]),
    State.EXPIRED: lambda staff: expired_case(agent=staff["agent"], clock=staff["clock"]),
    State.ABANDONED: lambda staff: abandoned_case(agent=staff["agent"]),
}


def _check_code(case, staff):
    authenticator = staff["authenticator"]
    check_totp(
        case=case,
        authenticator=authenticator,
        token=current_code(authenticator),
        actor=staff["agent"],
    )


SERVICES = {
    "claim": lambda case, s: case_claim(case=case, agent=s["other_agent"]),
    "check_evidence": _check_code,
    "verify": lambda case, s: case_verify(case=case, actor=s["agent"]),
    "approve": lambda case, s: approval_grant(case=case, approver=s["manager"], reason="Fine"),
    "deny": lambda case, s: approval_deny(case=case, approver=s["manager"], reason="No"),
    "reject": lambda case, s: case_reject(case=case, actor=s["agent"], reason="No evidence"),
    "release": lambda case, s: case_release(case=case, actor=s["reviewer"], reason="Reviewed"),
    "gap_release": lambda case, s: case_gap_release(
        case=case, actor=s["reviewer"], reason="Reviewed"
    ),
    "end_hold": lambda case, s: case_end_hold(case=case),
    "execute": lambda case, s: case_execute(case=case, actor=s["agent"]),
    "break_glass": lambda case, s: case_break_glass(
        case=case, actor=s["reviewer"], justification=JUSTIFICATION
    ),
    "dispute": lambda case, s: case_dispute(case=case, statement="This was not me."),
    "expire": lambda case, s: case_expire(case=case),
}


def test_every_terminal_state_is_covered():
    assert set(TERMINAL_BUILDERS) == TERMINAL_STATES


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("terminal", TERMINAL_BUILDERS)
def test_a_closed_case_refuses_every_action(
    terminal, service, clock, agent, other_agent, manager, security_reviewer
):
    staff = {
        "agent": agent,
        "other_agent": other_agent,
        "manager": manager,
        "reviewer": security_reviewer,
        "clock": clock,
    }
    case = TERMINAL_BUILDERS[terminal](staff)
    assert case.state == terminal
    staff["authenticator"] = AuthenticatorFactory(identity=case.subject)
    with refused(case, code="closed") as excinfo:
        SERVICES[service](case, staff)
    assert f"is closed ({case.get_state_display()})" in str(excinfo.value)


# --- one open case per (subject, kind) ------------------------------------------------------


def test_a_second_open_case_for_the_same_subject_and_kind_is_refused(clock, agent):
    case = open_case(opener=agent)
    with refused(case, code="duplicate_case"):
        open_case(opener=agent, subject=case.subject)


def test_the_database_refuses_a_second_open_case_for_the_same_subject_and_kind(clock, agent):
    case = open_case(opener=agent)
    duplicate = RecoveryCase.objects.filter(pk=case.pk).values().get()
    del duplicate["id"]
    with pytest.raises(IntegrityError), transaction.atomic():
        RecoveryCase.objects.create(**duplicate)


def test_the_database_allows_the_same_row_once_the_first_case_is_closed(clock, agent):
    case = rejected_case(agent=agent)
    duplicate = RecoveryCase.objects.filter(pk=case.pk).values().get()
    del duplicate["id"]
    duplicate.update(state=State.NEW, assigned_agent_id=None, verified_by_id=None)
    assert RecoveryCase.objects.create(**duplicate).pk != case.pk


def test_a_closed_case_does_not_block_a_new_one(clock, agent):
    first = rejected_case(agent=agent)
    second = open_case(opener=agent, subject=first.subject)
    assert second.state == State.NEW


# --- the recovery gap ----------------------------------------------------------------------


def _completed_contractor_reset(*, subject, agent, manager, clock) -> RecoveryCase:
    case = verified_case_for(agent=agent, subject=subject)
    approval_grant(case=case, approver=manager, reason="Spoke to the vendor manager")
    case.refresh_from_db()
    case = end_hold(case, clock)
    return executed(case, agent)


def test_a_second_contractor_reset_within_the_gap_is_refused_at_verify(clock, agent, manager):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    _completed_contractor_reset(subject=subject, agent=agent, manager=manager, clock=clock)
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    with refused(second, code="recovery_gap"):
        case_verify(case=second, actor=agent)


def test_a_gap_release_lets_the_second_reset_go_on(clock, agent, manager, security_reviewer):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    _completed_contractor_reset(subject=subject, agent=agent, manager=manager, clock=clock)
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    case_gap_release(case=second, actor=security_reviewer, reason="Vendor rotated laptops")
    assert case_verify(case=second, actor=agent).state == State.AWAITING_APPROVAL


def test_the_gap_rule_lapses_once_the_gap_has_passed(clock, agent, manager):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    first = _completed_contractor_reset(subject=subject, agent=agent, manager=manager, clock=clock)
    clock.shift(first.closed_at + timedelta(days=1) - timezone.now())
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    assert case_verify(case=second, actor=agent).state == State.AWAITING_APPROVAL


# --- policy pinning ------------------------------------------------------------------------


def test_editing_the_policy_does_not_change_an_open_case(clock, agent):
    case = claimed_case(agent=agent)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier=RiskTier.STANDARD)
    rule.min_evidence_score = 6
    rule.approvals_required = 2
    rule.version += 1
    rule.save()
    pass_totp(case, agent)
    case = case_verify(case=case, actor=agent)
    # Under the edited rule a score of 2 would be refused and approvals would be needed.
    assert (case.state, case.policy_version) == (State.READY, 1)


# --- deadlines -----------------------------------------------------------------------------


def test_a_case_cannot_expire_before_its_deadline(clock, agent):
    case = open_case(opener=agent)
    clock.shift(case.expires_at - timezone.now() - timedelta(seconds=1))
    with refused(case, code="not_due"):
        case_expire(case=case)


def test_a_case_expires_once_its_deadline_has_passed(clock, agent):
    case = open_case(opener=agent)
    clock.shift(case.expires_at - timezone.now())
    case = case_expire(case=case)
    assert (case.state, case.closed_at) == (State.EXPIRED, timezone.now())


def _with_evidence(case, agent):
    pass_totp(case, agent)
    return case


def _past_deadline(case, clock):
    clock.shift(case.expires_at - timezone.now())
    return case


PAST_DEADLINE = {
    "claim": (
        lambda s: open_case(opener=s["agent"]),
        lambda case, s: case_claim(case=case, agent=s["agent"]),
    ),
    "check_evidence": (lambda s: claimed_case(agent=s["agent"]), _check_code),
    "verify": (
        lambda s: _with_evidence(claimed_case(agent=s["agent"]), s["agent"]),
        lambda case, s: case_verify(case=case, actor=s["agent"]),
    ),
    "approve": (
        lambda s: awaiting_approval_case(agent=s["agent"]),
        lambda case, s: approval_grant(case=case, approver=s["manager"], reason="Fine"),
    ),
    "execute": (
        lambda s: ready_case(agent=s["agent"]),
        lambda case, s: case_execute(case=case, actor=s["agent"]),
    ),
    "break_glass": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s: case_break_glass(
            case=case, actor=s["reviewer"], justification=JUSTIFICATION
        ),
    ),
}


PAST_DEADLINE |= {
    "deny": (
        lambda s: awaiting_approval_case(agent=s["agent"]),
        lambda case, s: approval_deny(case=case, approver=s["manager"], reason="Doubtful call"),
    ),
    "reject": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s: case_reject(case=case, actor=s["agent"], reason="Caller hung up"),
    ),
    "gap_release": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s: case_gap_release(
            case=case, actor=s["reviewer"], reason="Second reset agreed with the subject"
        ),
    ),
}


@pytest.mark.parametrize("action", PAST_DEADLINE)
def test_a_case_past_its_deadline_can_only_expire(action, clock, agent, manager, security_reviewer):
    staff = {"agent": agent, "manager": manager, "reviewer": security_reviewer}
    build, act = PAST_DEADLINE[action]
    case = build(staff)
    staff["authenticator"] = AuthenticatorFactory(identity=case.subject)
    case = _past_deadline(case, clock)
    with refused(case, code="deadline_passed") as excinfo:
        act(case, staff)
    assert "passed its deadline at" in str(excinfo.value)


# --- dispute -------------------------------------------------------------------------------

OPEN_BUILDERS = {
    State.NEW: lambda s: open_case(opener=s["agent"]),
    State.VERIFYING: lambda s: claimed_case(agent=s["agent"]),
    State.ESCALATED: lambda s: escalated_case(agent=s["agent"]),
    State.AWAITING_APPROVAL: lambda s: awaiting_approval_case(agent=s["agent"]),
    State.COOLING_OFF: lambda s: cooling_off_case(
        agent=s["agent"], approvers=[s["manager"], s["other_manager"]]
    ),
    State.READY: lambda s: ready_case(agent=s["agent"]),
    State.EXECUTING: lambda s: executing_case(agent=s["agent"]),
    State.EXECUTION_FAILED: lambda s: execution_failed_case(agent=s["agent"]),
}


def test_every_open_state_is_covered():
    assert set(OPEN_BUILDERS) == OPEN_STATES


def test_a_case_being_carried_out_on_the_directory_cannot_be_disputed(clock, agent):
    """A directory call cannot be stopped half way; the dispute waits for its outcome."""
    case = executing_case(agent=agent)
    with refused(case, code="wrong_state"):
        case_dispute(case=case, statement="I never called the help desk.")


@pytest.mark.parametrize("state", sorted(set(OPEN_BUILDERS) - {State.EXECUTING}))
def test_the_subject_can_dispute_a_case_in_any_open_state(
    state, clock, agent, manager, other_manager
):
    staff = {"agent": agent, "manager": manager, "other_manager": other_manager}
    case = OPEN_BUILDERS[state](staff)
    assert case.state == state
    case = case_dispute(case=case, statement="I never called the help desk.")
    assert (case.state, case.closing_reason) == (State.CANCELLED, "I never called the help desk.")


# --- break-glass ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["agent", "manager"])
def test_only_a_security_reviewer_may_break_glass(who, clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    actor = {"agent": agent, "manager": manager}[who]
    with refused(case, code="not_reviewer"):
        case_break_glass(case=case, actor=actor, justification=JUSTIFICATION)


@pytest.mark.parametrize(
    "justification",
    ["   CEO locked out now.   ", "a" * 40, "locked locked locked locked locked out"],
)
def test_break_glass_needs_a_justification_in_words(justification, clock, agent, security_reviewer):
    """At least 20 characters and five different words: one letter repeated is no reason."""
    case = awaiting_approval_case(agent=agent)
    with refused(case, code="justification_required"):
        case_break_glass(case=case, actor=security_reviewer, justification=justification)


def test_break_glass_never_skips_the_policys_minimum_verification(clock, agent, security_reviewer):
    case = claimed_case(agent=agent)
    with refused(case, code="insufficient_evidence"):
        case_break_glass(case=case, actor=security_reviewer, justification=JUSTIFICATION)


def test_someone_who_approved_a_case_cannot_break_glass_on_it(clock, agent, security_reviewer):
    """A reviewer who also approves (security reviewers hold the approve role) and gave one
    of the approvals may not then skip the rest."""
    give_role(security_reviewer, roles.MANAGERS, roles.APPROVE)
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=security_reviewer, reason="Checked the evidence")
    with refused(case, code="separation_of_duties"):
        case_break_glass(case=case, actor=security_reviewer, justification=JUSTIFICATION)


def test_break_glass_skips_the_hold_and_the_case_can_be_executed(
    clock, agent, manager, other_manager, security_reviewer
):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    case = case_break_glass(case=case, actor=security_reviewer, justification=JUSTIFICATION)
    assert case.state == State.READY
    assert timezone.now() < case.hold_until
    assert executed(case, agent).state == State.COMPLETED


# --- an agent removed from the role stops working their cases -----------------------------


def _revoke_agent_role(user) -> None:
    user.groups.remove(Group.objects.get(name=roles.AGENTS))


AGENT_STEPS = {
    "check_evidence": (lambda s: claimed_case(agent=s["agent"]), _check_code),
    "verify": (
        lambda s: _with_evidence(claimed_case(agent=s["agent"]), s["agent"]),
        lambda case, s: case_verify(case=case, actor=s["agent"]),
    ),
    "reject": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s: case_reject(case=case, actor=s["agent"], reason="Caller hung up"),
    ),
    "execute": (
        lambda s: ready_case(agent=s["agent"]),
        lambda case, s: case_execute(case=case, actor=s["agent"]),
    ),
}


@pytest.mark.parametrize("action", AGENT_STEPS)
def test_an_agent_removed_from_the_role_cannot_go_on_with_a_claimed_case(action, clock, agent):
    staff = {"agent": agent}
    build, act = AGENT_STEPS[action]
    case = build(staff)
    staff["authenticator"] = AuthenticatorFactory(identity=case.subject)
    _revoke_agent_role(agent)
    with refused(case, code="role_revoked") as excinfo:
        act(case, staff)
    assert "no longer work" in str(excinfo.value)
