"""The case page in a real browser: an agent claims the next case, checks the code the caller
reads out, closes verification and executes with confirmation; on a break-glass case the
confirmation warns first. Screenshots at 1280 and 800 px wide (tests/screenshots/)."""

import re

import pytest
from playwright.sync_api import expect

from cases.execution import execution_run
from cases.models import RecoveryCase
from cases.states import State
from demo.builders import case_in, current_code, evidence_authenticator

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 800, "height": 900}


def test_agent_claims_checks_the_code_verifies_and_executes(sign_in, keep_screenshot, agent):
    waiting = case_in(State.NEW, agent=agent)
    authenticator = evidence_authenticator(waiting)  # the subject's phone
    page = sign_in(agent)
    page.set_viewport_size(WIDE)

    page.locator("tr").filter(has_text=waiting.queue.name).get_by_role(
        "button", name="Claim next"
    ).click()
    expect(page).to_have_url(re.compile(rf"/admin/desk/cases/{waiting.pk}/$"))
    expect(page.get_by_text(f"You claimed {waiting.reference}.")).to_be_visible()
    expect(page.get_by_text("One more independent method")).to_be_visible()
    expect(page.get_by_role("button", name="Close verification")).to_be_disabled()
    keep_screenshot("case-page-verifying-1280")
    page.set_viewport_size(NARROW)
    keep_screenshot("case-page-verifying-800")

    page.get_by_label("Authenticator the caller reads from").select_option(str(authenticator.pk))
    page.locator("input[name='totp-code']").fill(current_code(authenticator))
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator(".messagelist")).to_contain_text("Evidence passed")
    expect(page.locator("input[name='totp-code']")).to_have_value("")  # never shown back

    page.get_by_role("button", name="Close verification").click()
    expect(
        page.get_by_text(f"Verification closed: {waiting.reference} is now ready.")
    ).to_be_visible()

    page.get_by_role("link", name="Execute…").click()
    expect(page.get_by_text("Executing will, on the directory:")).to_be_visible()
    page.get_by_role("button", name="Execute now").click()
    expect(page.get_by_text("The directory step runs in the background")).to_be_visible()

    execution_run(case_id=waiting.pk)  # what the worker does with the committed case
    page.reload()
    expect(page.get_by_role("heading", name="Done: what changed")).to_be_visible()
    expect(page.get_by_text("Tell the caller:")).to_be_visible()
    assert RecoveryCase.objects.get(pk=waiting.pk).state == State.COMPLETED
    assert authenticator.key not in page.content()
    keep_screenshot("case-page-completed-800")
    page.set_viewport_size(WIDE)
    keep_screenshot("case-page-completed-1280")


def test_executing_a_break_glass_case_warns_first(
    sign_in, keep_screenshot, agent, security_reviewer
):
    case = case_in(State.READY, agent=agent, reviewer=security_reviewer)
    page = sign_in(agent)
    page.set_viewport_size(WIDE)
    page.goto(f"/admin/desk/cases/{case.pk}/")
    expect(page.locator(".desk-warning").first).to_contain_text("Break-glass")
    page.get_by_role("link", name="Execute…").click()
    expect(page.get_by_role("alert")).to_contain_text("Break-glass case.")
    keep_screenshot("case-execute-break-glass-1280")
    page.set_viewport_size(NARROW)
    keep_screenshot("case-execute-break-glass-800")

    tick = page.get_by_label("I have read why approvals and the cooling-off were skipped.")
    expect(tick).to_have_attribute("required", "")  # no execution without reading it
    tick.check()
    page.get_by_role("button", name="Execute now").click()
    expect(page.get_by_text(f"{case.reference} is sent to the directory.")).to_be_visible()
    assert RecoveryCase.objects.get(pk=case.pk).state == State.EXECUTING


def test_a_security_reviewer_sees_the_case_and_breaks_glass(
    sign_in, keep_screenshot, agent, manager, security_reviewer
):
    case = case_in(State.AWAITING_APPROVAL, agent=agent, tier="privileged", approvers=[manager])
    page = sign_in(security_reviewer)
    page.set_viewport_size(WIDE)
    page.goto(f"/admin/desk/cases/{case.pk}/")
    expect(page.get_by_text("1 given")).to_be_visible()
    page.get_by_text("Break glass…").click()
    page.get_by_label("Why glass must be broken").select_option("approvers_unreachable")
    page.get_by_label("Justification a reviewer will read").fill(
        "Second manager on leave; executive locked out before the board meeting."
    )
    keep_screenshot("case-page-reviewer-1280")
    page.get_by_role("button", name="Break glass", exact=True).click()
    expect(page.get_by_text("Glass broken:")).to_be_visible()
    assert RecoveryCase.objects.get(pk=case.pk).state == State.READY
