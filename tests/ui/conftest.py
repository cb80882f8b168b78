"""Browser fixtures for the staff console tests: Playwright's sync API driving Debian's Chromium.

No browser is ever downloaded: the tests use ``/usr/bin/chromium`` and fail (not skip) when it
is missing, so a CI job without a browser cannot report a green run it never made.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


@pytest.fixture
def allow_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API keeps an asyncio loop running in the test thread, and Django then
    refuses sync ORM calls (SynchronousOnlyOperation). The test thread never awaits anything,
    so the refusal protects nothing here. Only for these tests: monkeypatch restores it."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser(allow_orm_beside_playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(the UI tests never download a browser).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While Playwright's loop runs, asgiref keys Django's connections by context, not by
        # thread: the test body got its own connection, which the database teardown cannot see.
        # Close it here, under the same loop, or PostgreSQL refuses to drop the test database.
        connections.close_all()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshot(page: Page, tmp_path: Path) -> Callable[[str], Path]:
    """``screenshot("name")`` saves the full page under the test's temp dir, never the repo."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


STAFF_PASSWORD = "correct horse battery staple"  # tests.cases.factories.UserFactory


def current_code(device) -> str:
    """The code an authenticator app would show now."""
    from django_otp.oath import totp

    token = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{token:0{device.digits}d}"


@pytest.fixture
def sign_in(page: Page) -> Callable:
    """``sign_in(user)``: give ``user`` an authenticator app and sign in through the real
    login form (password and code), landing on the desk home. Returns the page."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def go(user, *, on: Page = page) -> Page:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        on.goto("/admin/login/?next=/admin/")
        on.get_by_label("Username").fill(user.username)
        on.get_by_label("Password").fill(STAFF_PASSWORD)
        on.locator("input[name=otp_token]").fill(current_code(device))
        on.locator("input[type=submit], button[type=submit]").first.click()
        on.wait_for_url("**/admin/")
        return on

    return go


@pytest.fixture
def second_page(browser: Browser, live_server) -> Iterator[Page]:
    """Another person's browser (own cookies) on the same live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def keep_screenshot(page: Page) -> Callable[[str], Path]:
    """``keep_screenshot("name")``: a full-page screenshot under tests/screenshots/ (git-ignored)
    to look at after the run."""
    folder = Path(__file__).resolve().parent.parent / "screenshots"
    folder.mkdir(exist_ok=True)

    def take(name: str, *, of: Page = page) -> Path:
        path = folder / f"{name}.png"
        of.screenshot(path=str(path), full_page=True)
        return path

    return take
