"""The security reviewer's desk in a real browser: releasing an escalated case with a reason, and
a second reviewer, who took no part, closing the break-glass review of a case the first one broke
glass on, after the desk home showed it open and overdue."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.models import BreakGlassReview, ReviewOutcome
from cases.states import State
from demo import builders
from directory.models import RiskTier
from tests.cases.factories import make_security_reviewer
from tests.conftest import clock_at

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WIDE, NARROW = 1280, 800
RELEASE_REASON = "Called the subject back on the number of record; the failures were typos."
FINDINGS = "The payments outage was real; the evidence met the policy and no approver answered."


def _screens(keep_screenshot, name: str, page: Page) -> None:
    """The page at 1280 and at 800 px wide, kept under tests/screenshots/."""
    for width in (WIDE, NARROW):
        page.set_viewport_size({"width": width, "height": 900})
        keep_screenshot(f"{name}-{width}", of=page)
    page.set_viewport_size({"width": WIDE, "height": 900})


def test_a_reviewer_releases_an_escalated_case_with_a_reason(
    sign_in, keep_screenshot, agent, security_reviewer
):
    case = builders.case_in(State.ESCALATED, agent=agent)
    page = sign_in(security_reviewer)
    home = page.get_by_role("region", name="Security review")
    expect(home).to_contain_text("1 escalated case waits for release or rejection.")
    page.get_by_role("navigation", name="Desk menu").get_by_role("link", name="Escalations").click()
    card = page.locator(f"#case-{case.pk}")
    expect(card).to_contain_text("Failed evidence checks reached the policy's limit")
    _screens(keep_screenshot, "reviewer-escalations", page)

    card.get_by_role("button", name="Release to verification").click()  # no reason yet
    expect(page.locator(f"#case-{case.pk}")).to_be_visible()  # the browser asks for one first
    card.get_by_label(f"Reason for your decision on {case.reference}").fill(RELEASE_REASON)
    card.get_by_role("button", name="Release to verification").click()

    expect(page.get_by_text(f"You released {case.reference} to verification")).to_be_visible()
    expect(page.get_by_role("heading", name="No escalated case waits")).to_be_visible()
    case.refresh_from_db()
    assert (case.state, case.released_at is not None) == (State.VERIFYING, True)


def test_a_second_reviewer_closes_the_overdue_review_of_anothers_break_glass(
    sign_in, page, second_page, keep_screenshot, agent, security_reviewer
):
    second = make_security_reviewer(username="security.frank")
    # Broken a day and a half ago on the database's clock, so the review is overdue now.
    with clock_at(timezone.now() - timedelta(hours=36)):
        review = builders.broken_glass(
            agent=agent,
            reviewer=security_reviewer,
            tier=RiskTier.PRIVILEGED,
            break_glass_reason="service_outage",
        )
    case = review.case
    assert review.due_at < timezone.now()

    # The breaker sees the review, but the form is disabled with the reason why.
    breaker = sign_in(security_reviewer)
    breaker.get_by_role("navigation", name="Desk menu").get_by_role(
        "link", name="Break-glass reviews"
    ).click()
    listed = (
        breaker.get_by_role("region", name="Open reviews")
        .locator("tr")
        .filter(has_text=case.reference)
    )
    expect(listed).to_contain_text("Overdue")
    _screens(keep_screenshot, "reviewer-reviews-overdue", breaker)
    listed.get_by_role("link", name=f"Review the break-glass of {case.reference}").click()
    expect(breaker.get_by_text("You broke glass on")).to_be_visible()
    expect(breaker.get_by_role("button", name="Close the review")).to_be_disabled()
    expect(breaker.get_by_label("Findings")).to_be_disabled()
    _screens(keep_screenshot, "reviewer-review-disabled", breaker)

    reviewer = sign_in(second, on=second_page)
    home = reviewer.get_by_role("region", name="Security review")
    expect(home).to_contain_text("1 break-glass review overdue.")
    expect(home).to_contain_text("1 break-glass review is open, 1 overdue.")
    row = home.locator("tr").filter(has_text=case.reference)
    expect(row).to_contain_text("Overdue")
    expect(row).to_have_class("desk-behind")
    _screens(keep_screenshot, "reviewer-home-overdue", reviewer)

    row.get_by_role("link", name=case.reference).click()
    expect(reviewer.get_by_text("Business-critical service down for this person")).to_be_visible()
    expect(reviewer.get_by_text(builders.JUSTIFICATION)).to_be_visible()
    expect(reviewer.locator(".desk-warning")).to_contain_text("Overdue:")
    reviewer.get_by_label("Justified", exact=True).check()
    reviewer.get_by_label("Findings").fill(FINDINGS)
    reviewer.get_by_label("Follow-up actions").fill("Add a second on-call approver for payments.")
    _screens(keep_screenshot, "reviewer-review-form", reviewer)
    reviewer.get_by_role("button", name="Close the review").click()

    expect(
        reviewer.get_by_text(f"You closed the break-glass review of {case.reference}.")
    ).to_be_visible()
    expect(reviewer.get_by_role("heading", name="Closed")).to_be_visible()
    _screens(keep_screenshot, "reviewer-review-closed", reviewer)
    review = BreakGlassReview.objects.get(pk=review.pk)
    assert (review.reviewer, review.outcome, review.findings) == (
        second,
        ReviewOutcome.JUSTIFIED,
        FINDINGS,
    )

    reviewer.get_by_role("link", name="Break-glass reviews").first.click()
    expect(reviewer.get_by_text("No break-glass review is open")).to_be_visible()
    expect(reviewer.get_by_role("region", name="Closed lately")).to_contain_text("security.frank")
    _screens(keep_screenshot, "reviewer-reviews-list", reviewer)
