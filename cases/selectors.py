from django.db.models import Count, Q, QuerySet

from .models import Queue, RecoveryCase
from .states import OPEN_STATES, State


def queue_cases(*, queue: Queue, states: frozenset[str] = OPEN_STATES) -> QuerySet[RecoveryCase]:
    """The queue listing: oldest first, everything a row shows fetched in the same query."""
    return (
        RecoveryCase.objects.filter(queue=queue, state__in=sorted(states))
        .select_related("subject", "assigned_agent", "opened_by", "queue")
        .annotate(
            passed_evidence=Count("evidence", filter=Q(evidence__outcome="passed"), distinct=True),
            approvals_granted=Count(
                "approvals", filter=Q(approvals__decision="approved"), distinct=True
            ),
        )
        .order_by("opened_at", "id")
    )


def claimable_count(*, queue: Queue) -> int:
    return RecoveryCase.objects.filter(queue=queue, state=State.NEW).count()
