"""Closed cases: nothing leaves a terminal state, so every action on a completed, rejected,
cancelled, expired or abandoned case is refused as closed, and writes nothing."""

import pytest

from approvals.services import approval_deny, approval_grant
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
from cases.states import TERMINAL_STATES, State
from tests.directory.factories import AuthenticatorFactory
from tests.helpers import (
    JUSTIFICATION,
    abandoned_case,
    cancelled_case,
    check_code,
    completed_case,
    expired_case,
    refused,
    rejected_case,
)

TERMINAL_BUILDERS = {
    State.COMPLETED: lambda staff: completed_case(agent=staff["agent"]),
    State.REJECTED: lambda staff: rejected_case(agent=staff["agent"]),
    State.CANCELLED: lambda staff: cancelled_case(agent=staff["agent"]),
    State.EXPIRED: lambda staff: expired_case(agent=staff["agent"], clock=staff["clock"]),
    State.ABANDONED: lambda staff: abandoned_case(agent=staff["agent"]),
}


SERVICES = {
    "claim": lambda case, s: case_claim(case=case, agent=s["other_agent"]),
    "check_evidence": check_code,
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
        case=case, actor=s["reviewer"], reason="approvers_unreachable", justification=JUSTIFICATION
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
