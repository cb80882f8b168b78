"""Disputes: the subject can cancel a case in every open state ("this was not me"), except
while it is being carried out on the directory."""

import pytest

from cases.services import case_dispute
from cases.states import OPEN_STATES, State
from tests.cases.builders import open_case
from tests.helpers import (
    awaiting_approval_case,
    claimed_case,
    cooling_off_case,
    escalated_case,
    executing_case,
    execution_failed_case,
    ready_case,
    refused,
)

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
