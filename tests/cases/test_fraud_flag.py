"""Anyone working or reviewing the queue can stop a case on suspicion of fraud or coaching
(NIST SP 800-63A-4): it escalates to security, and only security lets it go on, through
verification and approval again."""

from datetime import timedelta

import pytest

from approvals.services import approval_grant
from cases.services import case_flag_fraud, case_release, case_verify
from cases.states import State
from tests.conftest import START
from tests.helpers import (
    cooling_off_case,
    pass_totp,
    ready_case,
    refused,
)

pytestmark = pytest.mark.django_db

REASON = "Caller was being coached by someone in the background."


@pytest.mark.parametrize("who", ["agent", "other_agent", "security_reviewer"])
def test_a_ready_case_can_be_flagged_and_escalates(who, request, clock, agent):
    case = ready_case(agent=agent)
    actor = request.getfixturevalue(who)
    case = case_flag_fraud(case=case, actor=actor, reason=REASON)
    assert (case.state, case.escalated_at, case.expires_at) == (State.ESCALATED, START, None)


def test_a_case_cooling_off_can_be_stopped(clock, agent, manager, other_manager):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    assert case_flag_fraud(case=case, actor=agent, reason=REASON).state == State.ESCALATED


def test_a_manager_cannot_flag_a_case(clock, agent, manager):
    case = ready_case(agent=agent)
    with refused(case, code="not_agent_or_reviewer"):
        case_flag_fraud(case=case, actor=manager, reason=REASON)


def test_a_flag_needs_a_reason(clock, agent):
    case = ready_case(agent=agent)
    with refused(case, code="reason_required"):
        case_flag_fraud(case=case, actor=agent, reason=" ")


def test_after_release_evidence_and_approvals_are_asked_for_again(
    clock, agent, manager, other_manager, security_reviewer
):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    case_flag_fraud(case=case, actor=agent, reason=REASON)
    clock.shift(timedelta(minutes=30))
    case = case_release(case=case, actor=security_reviewer, reason="Called the subject back")
    assert case.state == State.VERIFYING

    with refused(case, code="insufficient_evidence"):
        case_verify(case=case, actor=agent)  # the evidence before the flag no longer counts
    clock.shift(timedelta(minutes=5))
    pass_totp(case, agent)
    case = case_verify(case=case, actor=agent)
    assert case.state == State.AWAITING_APPROVAL  # earlier approvals no longer count

    with refused(case, code="already_decided"):  # one decision per person per case
        approval_grant(case=case, approver=manager, reason="Fine")
