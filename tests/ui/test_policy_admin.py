"""An administrator edits a policy in a real browser (issue #13): a duration in words, methods
as checkboxes, a monotonicity refusal in words, then the rule's history with what changed."""

import pytest
from playwright.sync_api import expect

from cases.models import PolicyRule
from cases.states import Kind
from tests.cases.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 800, "height": 900}


def _save(page) -> None:
    page.locator("input[name=_save]").click()


def test_an_administrator_edits_a_policy_in_words_and_reads_its_history(sign_in, keep_screenshot):
    administrator = UserFactory(username="policy.admin", is_superuser=True)
    service = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    privileged = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="privileged")
    page = sign_in(administrator)
    page.set_viewport_size(WIDE)

    # The service tier: a longer hold, written in words; methods are ticked, not typed.
    page.goto(f"/admin/cases/policyrule/{service.pk}/change/")
    hold = page.get_by_label("Cooling-off period")
    expect(hold).to_have_value("4 hours")
    expect(page.get_by_text('In words: "4 hours", "2 days"').first).to_be_visible()
    # As migration 0009 left it: TOTP and an in-person check.
    methods = ("Code read from an enrolled TOTP authenticator", "In-person document check")
    for name in methods:
        ticked = page.get_by_role("checkbox", name=name)
        expect(ticked).to_be_checked()
        ticked.uncheck()
    expect(page.get_by_role("checkbox", name="Saved recovery code")).not_to_be_checked()
    hold.fill("1 day 12 hours")
    _save(page)
    expect(page.get_by_text("Tick at least one evidence method.")).to_be_visible()
    for name in methods:
        page.get_by_role("checkbox", name=name).check()
    page.get_by_label("Cooling-off period").fill("1 day 12 hours")
    _save(page)
    expect(page.get_by_text("was changed successfully")).to_be_visible()

    # The privileged tier: a hold shorter than the tier below it is refused, in words.
    page.goto(f"/admin/cases/policyrule/{privileged.pk}/change/")
    page.get_by_label("Cooling-off period").fill("30 minutes")
    _save(page)
    refusal = (
        "Password reset: the Privileged tier would be easier than the Contractor tier: "
        "its cooling-off period is shorter (30 minutes against 1 hour)."
    )
    expect(page.get_by_text(refusal)).to_be_visible()
    keep_screenshot("policy-refusal-1280")
    page.set_viewport_size(NARROW)
    keep_screenshot("policy-refusal-800")
    privileged.refresh_from_db()
    assert privileged.version == 2  # as migration 0009 left it

    # The service tier's history: version 3, by whom, what changed from version 2 (0009's).
    page.set_viewport_size(WIDE)
    page.goto(f"/admin/cases/policyrule/{service.pk}/change/")
    page.get_by_role("link", name="Every version of this rule and what changed").click()
    expect(page.get_by_role("heading", name="Version 3 (in force)")).to_be_visible()
    change = page.locator("tr").filter(has_text="Cooling-off period")
    expect(change).to_contain_text("4 hours")
    expect(change).to_contain_text("1 day 12 hours")
    expect(page.get_by_text("by policy.admin")).to_be_visible()
    keep_screenshot("policy-history-1280")
    page.set_viewport_size(NARROW)
    keep_screenshot("policy-history-800")

    # Version 2 as it was.
    page.get_by_role("link", name="Version 2", exact=True).click()
    expect(page.get_by_text("This is not the version in force")).to_be_visible()
    expect(page.locator("tr").filter(has_text="Cooling-off period")).to_contain_text("4 hours")
    keep_screenshot("policy-version-800")
