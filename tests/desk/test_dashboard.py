"""The security dashboard: reviewers only; the figures of a small history built over several
days; the SVG is well-formed, labelled and carries a tooltip per bar; a constant number of
queries."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.dashboard_selectors import DAYS, dashboard_figures
from cases.models import Queue
from cases.states import Kind, State
from demo.builders import broken_glass, case_in, close_review, fail_evidence
from desk import charts
from directory.models import RiskTier
from recovery_desk import clock as one_clock
from tests.cases.factories import make_security_reviewer
from tests.test_admin import _signed_in
from verification.models import Evidence

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:desk:dashboard"
ROLES = ("agent", "other_agent", "manager", "security_reviewer", "admin_user")
SVG = "{http://www.w3.org/2000/svg}"
CHART = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" viewBox="[\d ]+" class="desk-chart"')


@pytest.fixture
def history(agent, other_agent, manager, security_reviewer, clock):
    """Three days ago: a password reset completed, a failed check, and a break-glass whose
    review is still open (overdue by today). Today: an MFA re-bind and a password reset
    completed, an escalation (failed checks up to the limit), a break-glass whose review
    another reviewer closed, and one left open (not yet due)."""
    clock.shift(timedelta(days=-3))
    case_in(State.COMPLETED, agent=agent)
    fail_evidence(case_in(State.VERIFYING, agent=agent), agent)
    broken_glass(agent=agent, reviewer=security_reviewer, tier=RiskTier.PRIVILEGED)
    clock.shift(timedelta(days=3))
    case_in(
        State.COMPLETED, agent=other_agent, kind=Kind.MFA_REBIND, approvers=[manager], clock=clock
    )
    case_in(State.COMPLETED, agent=agent)
    case_in(State.ESCALATED, agent=other_agent)
    closer = make_security_reviewer(username="security.frank")
    review = broken_glass(agent=other_agent, reviewer=security_reviewer, tier=RiskTier.PRIVILEGED)
    close_review(review, closer)
    broken_glass(agent=agent, reviewer=security_reviewer, tier=RiskTier.PRIVILEGED)


def _checks_on(day) -> tuple[int, int]:
    """(all, failed) evidence checks of ``day``, counted from the evidence rows themselves."""
    rows = Evidence.objects.filter(checked_at__date=day)
    return rows.count(), rows.filter(outcome=Evidence.Outcome.FAILED).count()


@pytest.mark.parametrize("role", ROLES)
def test_only_security_reviewers_open_the_dashboard(client, request, role):
    _signed_in(client, request.getfixturevalue(role))
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == (200 if role == "security_reviewer" else 403)


def test_the_figures_of_a_small_history(history):
    figures = dashboard_figures(now=one_clock.now())
    today, three_days_ago = figures.days[-1], figures.days[-4]
    assert len(figures.days) == DAYS
    assert today == one_clock.now().date()
    by_queue = {row.name: row.per_day for row in figures.queues}
    reset = by_queue[Queue.objects.get(kind=Kind.PASSWORD_RESET).name]
    rebind = by_queue[Queue.objects.get(kind=Kind.MFA_REBIND).name]
    assert reset[-4] == 1 and reset[-1] == 1
    assert rebind[-1] == 1 and sum(rebind) == 1
    assert figures.completed_total == 3
    for i, day in ((-1, today), (-4, three_days_ago)):
        assert (figures.checks[i], figures.failed[i]) == _checks_on(day)
    assert figures.failed[-4] == 1
    assert figures.failed[-1] >= 2  # the escalation's failures, the last one being the escalation
    assert figures.failure_rates[-2] is None  # no check that day
    assert figures.break_glass[-4] == 1 and figures.break_glass[-1] == 2
    assert figures.break_glass_total == 3
    assert (figures.open_reviews, figures.overdue_reviews) == (2, 1)


def test_events_outside_the_window_are_not_counted(agent, clock):
    clock.shift(timedelta(days=-DAYS))
    case_in(State.COMPLETED, agent=agent)
    clock.shift(timedelta(days=DAYS))
    figures = dashboard_figures(now=one_clock.now())
    assert figures.completed_total == 0
    assert figures.checks_total == 0
    assert figures.failure_rate is None


def test_the_page_draws_three_well_formed_labelled_charts(client, security_reviewer, history):
    _signed_in(client, security_reviewer)
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    page = response.content.decode()
    svgs = [page[m.start() : page.index("</svg>", m.start()) + 6] for m in CHART.finditer(page)]
    assert len(svgs) == 3
    for svg in svgs:
        root = ET.fromstring(svg)  # noqa: S314  our own output
        assert root.tag == f"{SVG}svg"
        assert root.get("role") == "img"
        assert root.get("aria-label")
        assert root.find(f"{SVG}title") is not None
        assert root.get("class") == "desk-chart"
        bars = root.findall(f"./{SVG}g[@class='desk-chart-bars']/{SVG}rect")
        assert len(bars) >= DAYS
        assert all(bar.find(f"{SVG}title") is not None for bar in bars)
    assert "Completed recoveries" in page
    assert "1 overdue" in page
    figures = dashboard_figures(now=one_clock.now())
    assert f"{figures.failed_total} of {figures.checks_total} checks" in page


def test_the_dashboard_costs_the_same_queries_with_more_history(
    client, security_reviewer, agent, clock
):
    _signed_in(client, security_reviewer)
    with CaptureQueriesContext(connection) as empty:
        assert client.get(reverse(DASHBOARD)).status_code == 200
    for days_ago in (5, 3, 1):
        clock.shift(timedelta(days=-days_ago))
        case_in(State.COMPLETED, agent=agent)
        fail_evidence(case_in(State.VERIFYING, agent=agent), agent)
        clock.shift(timedelta(days=days_ago))
    _signed_in(client, security_reviewer)
    with CaptureQueriesContext(connection) as busy:
        assert client.get(reverse(DASHBOARD)).status_code == 200
    assert len(busy) == len(empty)


def test_chart_text_is_escaped_and_the_svg_parses():
    svg = charts.bar_chart(
        title='Queue "A" <b> & co',
        labels=["<x>", "y&z"],
        series=[charts.Series("<script>alert(1)</script>", [1, None]), charts.Series("b", [0, 3])],
        summary="a < b & c > d",
    )
    root = ET.fromstring(str(svg))  # noqa: S314  our own output
    assert "<script>" not in str(svg)
    assert root.get("aria-label", "").startswith('Queue "A" <b> & co.')
    tooltips = [t.text for t in root.iter(f"{SVG}title")]
    assert "<x> · <script>alert(1)</script>: 1" in tooltips
    assert "y&z · <script>alert(1)</script>: no data" in tooltips


def test_nice_ticks_are_round_and_reach_the_top():
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.nice_ticks(3) == [0.0, 1.0, 2.0, 3.0]
    assert charts.nice_ticks(17)[-1] >= 17
    assert len(charts.nice_ticks(17)) <= 6
    assert charts.nice_ticks(1.0, whole=False) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
