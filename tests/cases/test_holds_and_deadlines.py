"""Holds and deadlines: a hold ends only at ``hold_until``, a case expires only once its
deadline has passed, and past it the case can only expire; a case cooling off or escalated has
no deadline, so it waits instead of expiring (docs/design.md "The lifecycle")."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.services import approval_deny, approval_grant
from cases.services import (
    case_break_glass,
    case_claim,
    case_end_hold,
    case_execute,
    case_expire,
    case_gap_release,
    case_reject,
    case_verify,
)
from cases.states import Kind, State
from cases.sweep import case_sweep_due
from tests.cases.builders import open_case
from tests.directory.factories import AuthenticatorFactory
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    check_code,
    claimed_case,
    cooling_off_case,
    escalated_case,
    ready_case,
    refused,
    with_evidence,
)


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


def _past_deadline(case, clock):
    clock.shift(case.expires_at - timezone.now())
    return case


PAST_DEADLINE = {
    "claim": (
        lambda s: open_case(opener=s["agent"]),
        lambda case, s: case_claim(case=case, agent=s["agent"]),
    ),
    "check_evidence": (lambda s: claimed_case(agent=s["agent"]), check_code),
    "verify": (
        lambda s: with_evidence(claimed_case(agent=s["agent"]), s["agent"]),
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
            case=case,
            actor=s["reviewer"],
            reason="approvers_unreachable",
            justification=JUSTIFICATION,
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
        "reviews_escalated": 0,
    }
    case.refresh_from_db()
    assert (case.state, case.expires_at) == (State.COOLING_OFF, None)


def test_an_escalated_case_waits_for_security_instead_of_expiring(clock, agent):
    case = escalated_case(agent=agent)
    assert case.expires_at is None
    clock.shift(timedelta(days=30))
    case_sweep_due(batch_size=100)
    case.refresh_from_db()
    assert case.state == State.ESCALATED
