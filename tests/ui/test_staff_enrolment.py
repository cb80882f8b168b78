"""A new staff member in a real browser: password, QR code, first code, the desk."""

import re
from base64 import b32decode

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from recovery_desk.enrolment_services import MAX_FAILURES

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PASSWORD = "correct horse battery staple"  # tests.cases.factories.UserFactory


def _code_from_key_on_page(page: Page, drift: int = 0) -> str:
    """What an authenticator app set up by hand with the key shown would show now."""
    text = page.locator("#enrol-key").inner_text().replace(" ", "")
    key = b32decode(text + "=" * (-len(text) % 8))
    return f"{totp(key, 30, 0, 6, drift):06d}"


def _wrong_code(page: Page) -> str:
    accepted = {_code_from_key_on_page(page, d) for d in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in accepted)


def _password_only(page: Page, username: str) -> None:
    page.goto("/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_new_agent_sets_up_an_app_after_the_password_and_lands_on_the_desk(
    page, keep_screenshot, agent
):
    _password_only(page, agent.username)

    expect(page).to_have_url(re.compile(r"/admin/enrol/$"))
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    qr = page.get_by_role("img", name="QR code to scan with your authenticator app")
    expect(qr.locator("svg")).to_be_visible()
    assert qr.bounding_box()["width"] >= 200  # big enough to scan from a screen
    expect(page.locator(".desk-nav")).to_have_count(0)  # nothing else opens yet
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        keep_screenshot(f"staff-enrolment-{width}")

    page.get_by_label("Code from your authenticator app").fill(_wrong_code(page))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".errorlist")).to_contain_text("That code is not right.")
    expect(page.locator(".errorlist")).to_contain_text(f"({MAX_FAILURES - 1} left before")
    keep_screenshot("staff-enrolment-wrong-code-800")
    page.wait_for_timeout(1100)  # the device's throttle after one wrong code

    page.get_by_label("Code from your authenticator app").fill(_code_from_key_on_page(page))
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_text("Your authenticator app is set up.")).to_be_visible()
    expect(page.get_by_role("heading", name="My queues")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 900})
    keep_screenshot("staff-enrolment-done-1280")
    assert TOTPDevice.objects.get(user=agent).confirmed
    page.goto("/admin/enrol/")  # over: the key is never shown again
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#enrol-key")).to_have_count(0)


def test_a_new_agent_can_sign_out_from_enrolment(page, agent):
    _password_only(page, agent.username)
    expect(page).to_have_url(re.compile(r"/admin/enrol/$"))
    page.goto("/admin/cases/recoverycase/")
    expect(page).to_have_url(re.compile(r"/admin/enrol/$"))

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/admin/login/$"))
    page.goto("/admin/enrol/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/enrol/$"))
