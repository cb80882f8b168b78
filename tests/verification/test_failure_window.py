"""Failed evidence counts across cases within the pinned failure window: rejecting a case and
opening a new one resets nothing, and failures older than the window no longer count
(docs/design.md "Evidence", failure counting)."""

from datetime import timedelta

from cases.policy import pinned_policy
from cases.services import case_claim, case_reject
from cases.states import State
from tests.cases.builders import open_case
from tests.helpers import claimed_case, fail_totp


def test_failures_on_a_rejected_case_still_count_towards_escalation(clock, agent):
    first = claimed_case(agent=agent)
    fail_totp(first, agent, times=pinned_policy(first).max_failures - 1)
    case_reject(case=first, actor=agent, reason="Caller hung up")
    second = case_claim(case=open_case(opener=agent, subject=first.subject), agent=agent)
    fail_totp(second, agent, times=1)
    second.refresh_from_db()
    assert second.state == State.ESCALATED


def test_failures_older_than_the_window_do_not_count(clock, agent):
    first = claimed_case(agent=agent)
    fail_totp(first, agent, times=pinned_policy(first).max_failures - 1)
    case_reject(case=first, actor=agent, reason="Caller hung up")
    clock.shift(pinned_policy(first).failure_window + timedelta(minutes=1))
    second = case_claim(case=open_case(opener=agent, subject=first.subject), agent=agent)
    fail_totp(second, agent, times=1)
    second.refresh_from_db()
    assert second.state == State.VERIFYING
