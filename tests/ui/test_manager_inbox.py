"""Two managers decide from the approvals inbox in real browsers: one approves a case, the
other denies another with a reason that goes into the case's audit trail."""

import pytest
from playwright.sync_api import expect

from audit.actions import Action
from audit.models import AuditEvent
from cases.states import State
from tests.helpers import awaiting_approval_case

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DENIAL = "The caller could not say who their line manager is."


def _card(page, case):
    return page.get_by_role("article").filter(has_text=case.reference)


def test_one_manager_approves_and_another_denies_with_a_reason(
    sign_in, second_page, keep_screenshot, agent, other_agent, manager, other_manager
):
    first = awaiting_approval_case(agent=agent)
    second = awaiting_approval_case(agent=other_agent)

    carol = sign_in(manager)
    expect(carol.get_by_role("heading", name="Waiting for your decision")).to_be_visible()
    expect(carol.get_by_text("2 cases wait for your decision.")).to_be_visible()
    carol.set_viewport_size({"width": 1280, "height": 900})
    keep_screenshot("manager-home-1280", of=carol)
    carol.get_by_role("link", name="Decide in the approvals inbox").click()
    expect(carol.get_by_role("heading", name="Approvals inbox")).to_be_visible()
    keep_screenshot("inbox-1280", of=carol)
    carol.set_viewport_size({"width": 800, "height": 900})
    keep_screenshot("inbox-800", of=carol)

    card = _card(carol, first)
    expect(card).to_contain_text("0 of 2 approvals")
    card.get_by_label(f"Reason for your decision on {first.reference}").fill(
        "Evidence checked; the subject's manager confirmed the request."
    )
    card.get_by_role("button", name="Approve").click()
    expect(
        carol.get_by_text(f"You approved {first.reference}; it waits for another approver.")
    ).to_be_visible()
    expect(_card(carol, first)).to_have_count(0)
    keep_screenshot("inbox-after-approval-800", of=carol)

    dave = sign_in(other_manager, on=second_page)
    dave.goto("/admin/desk/inbox/")
    expect(_card(dave, first)).to_contain_text("1 of 2 approvals")
    card = _card(dave, second)
    card.get_by_label(f"Reason for your decision on {second.reference}").fill(DENIAL)
    card.get_by_role("button", name="Deny").click()
    expect(dave.get_by_text(f"You denied {second.reference}")).to_be_visible()
    expect(_card(dave, second)).to_have_count(0)
    dave.set_viewport_size({"width": 1280, "height": 900})
    keep_screenshot("inbox-after-denial-1280", of=dave)

    second.refresh_from_db()
    assert second.state == State.REJECTED
    assert AuditEvent.objects.get(case=second, action=Action.CASE_DENY).detail["reason"] == DENIAL
    first.refresh_from_db()
    assert first.state == State.AWAITING_APPROVAL
