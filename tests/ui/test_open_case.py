"""An agent opens a case from a phone call in a real browser: finds the person by name, says
what needs recovering, how the request came in and the ticket, and lands on the case page."""

import pytest
from playwright.sync_api import expect

from cases.models import RecoveryCase
from cases.states import Kind, State
from demo.builders import current_code
from tests.directory.factories import AuthenticatorFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_an_agent_opens_a_case_from_a_call_and_verifies_the_caller(sign_in, keep_screenshot, agent):
    ana = IdentityFactory(display_name="Ana Lima", username="ana.lima", employee_id="E04711")
    IdentityFactory(display_name="Anatole Brun", username="anatole.brun")
    AuthenticatorFactory(identity=ana, label="Work phone")
    hardware_key = AuthenticatorFactory(identity=ana, label="Hardware key")
    page = sign_in(agent)

    page.get_by_role("navigation", name="Desk menu").get_by_role("link", name="Open a case").click()
    expect(page.get_by_role("heading", name="Find the person")).to_be_visible()
    page.get_by_label("Name, username or employee ID").fill("ana")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table")
    expect(results.get_by_role("row")).to_have_count(3)  # the header and two people
    page.set_viewport_size({"width": 800, "height": 900})
    keep_screenshot("open-case-search-800")

    page.get_by_label("Name, username or employee ID").fill("Ana Li")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Choose Ana Lima").click()
    expect(page.get_by_role("heading", name="Open a case for Ana Lima")).to_be_visible()
    page.get_by_role("radio", name="MFA re-bind").check()
    work_phone = ana.authenticators.get(label="Work phone").pk
    page.get_by_label("Authenticator being replaced").select_option(str(work_phone))
    page.get_by_label("How the request came in").select_option("phone")
    page.get_by_label("External ticket ID").fill("INC-4711")
    keep_screenshot("open-case-form-800")
    page.set_viewport_size({"width": 1280, "height": 900})
    keep_screenshot("open-case-form-1280")

    page.get_by_role("button", name="Open the case").click()
    case = RecoveryCase.objects.get(subject=ana)
    expect(page.get_by_text(f"{case.reference} is open: MFA re-bind for Ana Lima.")).to_be_visible()
    assert f"/{case.pk}/" in page.url  # the case page (admin:desk:case, wherever it leads)
    assert (case.kind, case.state, case.opened_by) == (Kind.MFA_REBIND, State.NEW, agent)
    assert (case.intake_channel, case.external_ticket) == ("phone", "INC-4711")
    keep_screenshot("open-case-landed-1280")

    # The same call goes on: the agent takes the case and checks the code Ana reads out from
    # her hardware key (the phone being replaced cannot prove anything), then closes
    # verification; a standard re-bind then waits for a manager's approval.
    page.get_by_role("button", name="Claim").first.click()
    expect(page.get_by_text(f"You claimed {case.reference}")).to_be_visible()
    page.get_by_label("Authenticator the caller reads from").select_option(str(hardware_key.pk))
    page.locator("input[name='totp-code']").fill(current_code(hardware_key))
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator(".messagelist")).to_contain_text("Evidence passed")
    page.get_by_role("button", name="Close verification").click()
    expect(page.get_by_text(f"Verification closed: {case.reference}")).to_be_visible()
    case.refresh_from_db()
    assert (case.state, case.verified_by) == (State.AWAITING_APPROVAL, agent)
    keep_screenshot("open-case-verified-1280")


def test_a_duplicate_is_refused_in_words_in_the_browser(sign_in, keep_screenshot, agent):
    ana = IdentityFactory(display_name="Ana Lima", username="ana.lima")
    page = sign_in(agent)
    for _ in range(2):  # the second attempt is the duplicate
        page.goto("/admin/desk/open/?q=ana")
        page.get_by_role("link", name="Choose Ana Lima").click()
        page.get_by_role("radio", name="Password reset").check()
        page.get_by_label("How the request came in").select_option("chat")
        page.get_by_role("button", name="Open the case").click()
    existing = RecoveryCase.objects.get(subject=ana)
    expect(page.get_by_text(f"{existing.reference} is already open for")).to_be_visible()
    page.set_viewport_size({"width": 800, "height": 900})
    keep_screenshot("open-case-duplicate-800")
