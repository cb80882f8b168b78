"""The security dashboard: the last fourteen days of completed recoveries per queue, the
verification failure rate, break-glass uses, and the open and overdue break-glass reviews.

Security reviewers only. The figures are four aggregate queries
(``cases.dashboard_selectors``); the charts are SVG drawn here (``desk.charts``), with the
same figures beside them as text.
"""

from django.urls import path

from cases.dashboard_selectors import DashboardFigures, dashboard_figures
from desk import charts
from recovery_desk import clock

from .. import access
from .base import render_page


def _rate(value: float | None) -> str:
    return "—" if value is None else charts.percent(value)


def _charts(figures: DashboardFigures) -> dict:
    # The month once, on the first day and where it changes; the day number elsewhere.
    labels = [
        f"{day:%b} {day.day}" if i == 0 or day.day == 1 else str(day.day)
        for i, day in enumerate(figures.days)
    ]
    names = [f"{day:%a %d %b %Y}" for day in figures.days]
    per_queue = ", ".join(f"{q.name} {q.total}" for q in figures.queues)
    completed = charts.bar_chart(
        title="Completed recoveries per queue per day",
        labels=labels,
        tooltip_labels=names,
        series=[charts.Series(q.name, q.per_day) for q in figures.queues],
        summary=f"{figures.completed_total} in {len(figures.days)} days: {per_queue}.",
    )
    failure_rate = charts.bar_chart(
        title="Verification failure rate per day",
        labels=labels,
        tooltip_labels=names,
        series=[charts.Series("Failed checks", figures.failure_rates, charts.PALETTE[4])],
        summary=(
            f"{figures.failed_total} of {figures.checks_total} evidence checks failed "
            f"({_rate(figures.failure_rate)})."
        ),
        fmt=charts.percent,
        whole=False,
        top=1.0,
        height=charts.SHORT,
        mark_zero=True,
    )
    uses = "use" if figures.break_glass_total == 1 else "uses"
    break_glass = charts.bar_chart(
        title="Break-glass uses per day",
        labels=labels,
        tooltip_labels=names,
        series=[charts.Series("Break-glass uses", figures.break_glass, charts.PALETTE[3])],
        summary=f"{figures.break_glass_total} break-glass {uses} in {len(figures.days)} days.",
        height=charts.SHORT,
    )
    return {"completed_chart": completed, "failure_chart": failure_rate, "glass_chart": break_glass}


def dashboard(request):
    access.require_reviewer(request)
    figures = dashboard_figures(now=clock.now())
    rows = [
        {
            "day": day,
            "completed": [q.per_day[i] for q in figures.queues],
            "checks": figures.checks[i],
            "failed": figures.failed[i],
            "rate": _rate(figures.failure_rates[i]),
            "break_glass": figures.break_glass[i],
        }
        for i, day in enumerate(figures.days)
    ]
    context = {
        "figures": figures,
        "rows": list(reversed(rows)),  # the table reads newest first
        "failure_rate": _rate(figures.failure_rate),
        **_charts(figures),
    }
    return render_page(request, "desk/dashboard.html", context, title="Dashboard")


def urls(wrap) -> list:
    return [path("dashboard/", wrap(dashboard), name="dashboard")]
