"""The staff console in a real browser: password plus authenticator code, then the desk."""

import re
from collections.abc import Callable

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from cases.states import State
from tests.cases.builders import open_case

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PASSWORD = "correct horse battery staple"  # tests.cases.factories.UserFactory


def _staff_with_authenticator(user) -> TOTPDevice:
    """A staff member (whose role may view cases) holding a confirmed authenticator app."""
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _code_at(device: TOTPDevice, drift: int) -> str:
    token = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + drift)
    return f"{token:0{device.digits}d}"


def _current_code(device: TOTPDevice) -> str:
    return _code_at(device, 0)


def _a_wrong_code(device: TOTPDevice) -> str:
    """A code the device accepts at no step within its tolerance."""
    accepted = {_code_at(device, d) for d in range(-device.tolerance, device.tolerance + 1)}
    code = int(_current_code(device))
    while f"{code:0{device.digits}d}" in accepted:
        code = (code + 1) % 10**device.digits
    return f"{code:0{device.digits}d}"


def _sign_in(page: Page, *, username: str, device: TOTPDevice, code: Callable[..., str]) -> None:
    """Through the real login form, in one step: a person with a single authenticator has no
    device to choose (recovery_desk/admin_site.py)."""
    page.goto("/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(code(device))
    page.get_by_role("button", name="Log in").click()


def _case_row(page: Page, reference: str):
    return page.locator("#result_list tbody tr").filter(
        has=page.get_by_role("link", name=reference, exact=True)
    )


def test_agent_signs_in_with_password_and_authenticator_code_and_sees_the_case_list(
    page, screenshot, agent, other_agent
):
    device = _staff_with_authenticator(agent)
    case = open_case(opener=other_agent)

    _sign_in(page, username=agent.username, device=device, code=_current_code)
    expect(page.get_by_role("heading", name="My queues")).to_be_visible()  # the desk home
    page.get_by_role("link", name="Records", exact=True).click()
    page.get_by_role("link", name="Recovery cases", exact=True).click()
    screenshot("case_list")

    expect(page).to_have_url(re.compile(r"/admin/cases/recoverycase/$"))
    expect(_case_row(page, case.reference)).to_be_visible()


def test_a_wrong_authenticator_code_keeps_the_agent_out(page, screenshot, agent):
    device = _staff_with_authenticator(agent)

    _sign_in(page, username=agent.username, device=device, code=_a_wrong_code)
    screenshot("wrong_code")

    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator(".errornote")).to_contain_text("That code is not right.")
    # One authenticator: nothing to choose, so no chooser even after a wrong code.
    expect(page.locator("select[name=otp_device]")).to_have_count(0)
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_an_agent_claims_a_case_from_the_list(page, screenshot, agent, other_agent):
    device = _staff_with_authenticator(agent)
    case = open_case(opener=other_agent)
    _sign_in(page, username=agent.username, device=device, code=_current_code)
    expect(page.get_by_role("heading", name="My queues")).to_be_visible()

    page.goto("/admin/cases/recoverycase/")
    row = _case_row(page, case.reference)
    row.get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(label="Claim the selected cases")
    page.get_by_role("button", name="Go").click()
    screenshot("claimed")

    expect(page.locator("ul.messagelist li.success")).to_have_text(f"Claimed: {case.reference}.")
    expect(row.locator("td.field-state")).to_have_text("Verifying")
    case.refresh_from_db()
    assert (case.state, case.assigned_agent) == (State.VERIFYING, agent)


def test_the_sign_in_form_asks_for_the_code_in_words(page, keep_screenshot, agent):
    page.goto("/admin/login/?next=/admin/")
    code = page.get_by_label("Code from your authenticator app")
    expect(code).to_be_visible()
    expect(code).to_have_attribute("name", "otp_token")
    expect(code).to_have_accessible_description(re.compile(r"The 6 digits your app shows"))
    expect(page.get_by_text("OTP")).to_have_count(0)
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 800})
        keep_screenshot(f"staff-sign-in-{width}")


def test_someone_with_several_authenticators_chooses_one(page, agent):
    device = _staff_with_authenticator(agent)
    TOTPDevice.objects.create(user=agent, name="spare phone", confirmed=True)

    _sign_in(page, username=agent.username, device=device, code=_current_code)
    expect(page.locator(".errornote")).to_contain_text("Choose which authenticator")
    page.get_by_label("Which authenticator").select_option(label="phone")
    page.get_by_label("Code from your authenticator app").fill(_current_code(device))
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="My queues")).to_be_visible()
