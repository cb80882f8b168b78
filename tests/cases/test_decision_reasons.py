"""Every decision on a case (release, gap release, reject, approve, deny) needs a written
reason: an empty or blank one is refused and writes nothing."""

import pytest

from approvals.services import approval_deny, approval_grant
from cases.services import case_gap_release, case_reject, case_release
from tests.helpers import awaiting_approval_case, claimed_case, escalated_case, refused

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
