"""The figures of the security dashboard (desk/views/dashboard.py), read from the audit trail
and the break-glass reviews.

Four aggregate queries whatever the size of the desk, each bounded by an indexed column:

1. completed recoveries per queue per day: ``case.execution_done`` events in the window
   (``occurred_at``), joined to their case by primary key for the queue;
2. evidence checks and break-glass uses per day: ``evidence.passed``, ``evidence.failed``,
   ``case.escalate`` (the failed check that reached a failure limit is recorded as the
   escalation, not as ``evidence.failed``) and ``case.break_glass`` events in the window;
3. open and overdue break-glass reviews (``closed_at`` is null; the open ones are few);
4. the queues' names.

Days are calendar days in the desk's time zone (UTC), today included.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent

from .models import BreakGlassReview, Queue

DAYS = 14

_CHECKS = (Action.EVIDENCE_PASSED, Action.EVIDENCE_FAILED, Action.CASE_ESCALATE)
_FAILED = (Action.EVIDENCE_FAILED, Action.CASE_ESCALATE)


@dataclass(frozen=True)
class QueueRow:
    id: int
    name: str
    per_day: list[int]

    @property
    def total(self) -> int:
        return sum(self.per_day)


@dataclass(frozen=True)
class DashboardFigures:
    days: list[date]
    queues: list[QueueRow]
    checks: list[int]
    failed: list[int]
    break_glass: list[int]
    open_reviews: int
    overdue_reviews: int
    now: datetime

    @property
    def failure_rates(self) -> list[float | None]:
        """Failed / all evidence checks per day; None on a day without a check."""
        return [f / c if c else None for f, c in zip(self.failed, self.checks, strict=True)]

    @property
    def completed_total(self) -> int:
        return sum(q.total for q in self.queues)

    @property
    def checks_total(self) -> int:
        return sum(self.checks)

    @property
    def failed_total(self) -> int:
        return sum(self.failed)

    @property
    def failure_rate(self) -> float | None:
        return self.failed_total / self.checks_total if self.checks_total else None

    @property
    def break_glass_total(self) -> int:
        return sum(self.break_glass)


def window(now: datetime, days: int = DAYS) -> tuple[list[date], datetime, datetime]:
    """The last ``days`` calendar days, today included, and their bounds [since, until)."""
    zone = timezone.get_current_timezone()
    today = timezone.localtime(now, zone).date()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min), zone)
    until = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min), zone)
    return [first + timedelta(days=i) for i in range(days)], since, until


def dashboard_figures(*, now: datetime, days: int = DAYS) -> DashboardFigures:
    day_list, since, until = window(now, days)
    index = {day: i for i, day in enumerate(day_list)}
    in_window = AuditEvent.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    zone = timezone.get_current_timezone()

    completed: dict[int, list[int]] = defaultdict(lambda: [0] * days)
    for row in (
        in_window.filter(action=Action.CASE_EXECUTION_DONE, case__isnull=False)
        .annotate(day=TruncDate("occurred_at", tzinfo=zone))
        .values("day", "case__queue_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        if row["day"] in index:
            completed[row["case__queue_id"]][index[row["day"]]] += row["n"]

    checks, failed, used = [0] * days, [0] * days, [0] * days
    for row in (
        in_window.filter(action__in=(*_CHECKS, Action.CASE_BREAK_GLASS))
        .annotate(day=TruncDate("occurred_at", tzinfo=zone))
        .values("day", "action")
        .annotate(n=Count("id"))
        .order_by()
    ):
        i = index.get(row["day"])
        if i is None:
            continue
        if row["action"] in _CHECKS:
            checks[i] += row["n"]
        if row["action"] in _FAILED:
            failed[i] += row["n"]
        if row["action"] == Action.CASE_BREAK_GLASS:
            used[i] += row["n"]

    reviews = BreakGlassReview.objects.filter(closed_at__isnull=True).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lte=now))
    )
    queues = [
        QueueRow(id=pk, name=name, per_day=list(completed.get(pk, [0] * days)))
        for pk, name in Queue.objects.order_by("name").values_list("pk", "name")
    ]
    return DashboardFigures(
        days=day_list,
        queues=queues,
        checks=checks,
        failed=failed,
        break_glass=used,
        open_reviews=reviews["open"],
        overdue_reviews=reviews["overdue"],
        now=now,
    )
