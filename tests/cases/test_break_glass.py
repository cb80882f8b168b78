"""Break-glass: only a security reviewer, with a justification in words, makes a case ready
without the approvals and the hold, and never without the policy's minimum verification. Who
may not break glass on a case they took part in: tests/cases/test_reviewer_oversight.py."""

import pytest
from django.utils import timezone

from cases.services import case_break_glass
from cases.states import State
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    claimed_case,
    cooling_off_case,
    executed,
    refused,
)


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


def test_break_glass_skips_the_hold_and_the_case_can_be_executed(
    clock, agent, manager, other_manager, security_reviewer
):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    case = case_break_glass(case=case, actor=security_reviewer, justification=JUSTIFICATION)
    assert case.state == State.READY
    assert timezone.now() < case.hold_until
    assert executed(case, agent).state == State.COMPLETED
