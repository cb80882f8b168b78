"""A security reviewer in a real browser: the Trail from the menu, filtered by identity, both
exports downloaded and read; the Dashboard with its server-drawn SVG charts. Screenshots at
1280 and 800 px wide."""

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from cases.states import Kind, State
from demo.builders import broken_glass, case_in, fail_evidence
from directory.models import RiskTier

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WIDTHS = (1280, 800)


@pytest.fixture
def desk_history(agent, other_agent, manager, security_reviewer, clock):
    """Work spread over the last days: three completions (two queues), five checks of which
    one failed, one break-glass whose review is open."""
    clock.shift(timedelta(days=-4))
    case_in(State.COMPLETED, agent=other_agent)
    clock.shift(timedelta(days=2))
    fail_evidence(case_in(State.VERIFYING, agent=agent), agent)
    clock.shift(timedelta(days=2))
    watched = case_in(State.COMPLETED, agent=agent)
    case_in(
        State.COMPLETED, agent=other_agent, kind=Kind.MFA_REBIND, approvers=[manager], clock=clock
    )
    broken_glass(agent=agent, reviewer=security_reviewer, tier=RiskTier.PRIVILEGED)
    return watched


def _download(page, name: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.get_by_role("link", name=name, exact=True).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_a_reviewer_filters_the_trail_exports_it_and_reads_the_dashboard(
    sign_in, keep_screenshot, security_reviewer, desk_history
):
    watched = desk_history
    expected = list(
        AuditEvent.objects.filter(identity_id=watched.subject_id)
        .order_by("-id")
        .values_list("id", flat=True)
    )
    page = sign_in(security_reviewer)
    page.get_by_role("navigation", name="Desk menu").get_by_role("link", name="Trail").click()
    expect(page.get_by_role("heading", name="Trail", level=1)).to_be_visible()
    page.get_by_label("Identity").fill(watched.subject.username)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("heading", name="Newest events matching the filter")).to_be_visible()
    rows = page.locator("table.trail-table tbody tr")
    expect(rows).to_have_count(len(expected))
    expect(rows.first).to_contain_text("The directory carried out the recovery")
    expect(page.get_by_text("agent.alice claimed the case")).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        keep_screenshot(f"trail-filtered-{width}")

    filename, text = _download(page, "CSV")
    assert filename.startswith("recovery-desk-trail-") and filename.endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [int(row["id"]) for row in exported] == expected
    assert {row["identity"] for row in exported} == {watched.subject.username}

    filename, text = _download(page, "JSON lines")
    assert filename.endswith(".jsonl")
    records = [json.loads(line) for line in text.splitlines()]
    assert [record["id"] for record in records] == expected

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("navigation", name="Desk menu").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    charts = page.locator("svg.desk-chart[role=img]")
    expect(charts).to_have_count(3)
    expect(charts.first).to_have_attribute(
        "aria-label", "Completed recoveries per queue per day. 3 in 14 days: " + _per_queue()
    )
    expect(charts.first.locator("g.desk-chart-bars rect:not([height='0'])").first).to_be_visible()
    summary = page.locator(".dash-figures")
    expect(summary.locator("div").filter(has_text="Completed recoveries")).to_contain_text("3")
    expect(summary.locator("div").filter(has_text="Break-glass uses")).to_contain_text("1")
    expect(summary.locator("div").filter(has_text="Open break-glass reviews")).to_contain_text(
        "1 0 overdue"
    )
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        keep_screenshot(f"dashboard-{width}")


def _per_queue() -> str:
    from cases.models import Queue

    counts: dict[str, int] = {Kind.PASSWORD_RESET: 2, Kind.MFA_REBIND: 1}
    parts = [f"{q.name} {counts.get(q.kind, 0)}" for q in Queue.objects.order_by("name")]
    return ", ".join(parts) + "."
