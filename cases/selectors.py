from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet

from .errors import Refusal
from .models import Queue, RecoveryCase
from .states import OPEN_STATES, State
from .transitions import TRANSITIONS, refusal_for


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


@dataclass(frozen=True)
class AvailableAction:
    """One thing a person might do to a case now: allowed, or the refusal that stops it."""

    name: str  # a transition of the table, or "evidence:<method>"
    label: str
    refusal: Refusal | None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def available_actions(case: RecoveryCase, user, now: datetime) -> list[AvailableAction]:
    """Every action of the transition table, and every evidence method, for ``user`` on
    ``case`` at ``now``, each allowed or with the refusal (code and sentence) the service would
    raise. Screens draw their buttons from this; the services ask the same rules.
    """
    from verification.methods import METHODS

    from .policy import pinned_policy

    actions = [
        AvailableAction(t.name, t.label, refusal_for(case, t.name, user, now))
        for t in TRANSITIONS.values()
        if t.name != "check_evidence"
    ]
    evidence_refusal = refusal_for(case, "check_evidence", user, now)
    policy = pinned_policy(case)
    for method in METHODS.values():
        refusal = evidence_refusal or method.is_allowed(case=case, policy=policy)
        actions.append(AvailableAction(f"evidence:{method.code}", method.label, refusal))
    return actions


def my_open_cases(*, agent, limit: int = 50) -> QuerySet[RecoveryCase]:
    """The agent's own open cases, oldest first (the desk home's first list)."""
    return (
        RecoveryCase.objects.filter(assigned_agent=agent, state__in=sorted(OPEN_STATES))
        .select_related("subject", "queue")
        .order_by("opened_at", "id")[:limit]
    )


@dataclass(frozen=True)
class QueueOverview:
    queue: Queue
    open_count: int
    claimable_count: int
    oldest_claimable_at: datetime | None
    now: datetime

    @property
    def oldest_age(self) -> timedelta | None:
        return None if self.oldest_claimable_at is None else self.now - self.oldest_claimable_at

    @property
    def behind(self) -> bool:
        """The oldest unclaimed case has waited longer than the queue's service target."""
        age = self.oldest_age
        return age is not None and age > self.queue.service_target


def queue_overviews(*, queue_ids, now: datetime) -> list[QueueOverview]:
    """Open and claimable counts and the oldest claimable case per queue, in two queries
    whatever the number of queues (open cases only: the index leads with queue and state)."""
    queues = Queue.objects.filter(pk__in=queue_ids).order_by("name")
    figures = {
        row["queue"]: row
        for row in RecoveryCase.objects.filter(
            queue_id__in=queue_ids, state__in=sorted(OPEN_STATES)
        )
        .values("queue")
        .annotate(
            open_count=Count("id"),
            claimable_count=Count("id", filter=Q(state=State.NEW)),
            oldest=Min("opened_at", filter=Q(state=State.NEW)),
        )
        .order_by()
    }
    return [
        QueueOverview(
            queue=queue,
            open_count=figures.get(queue.pk, {}).get("open_count", 0),
            claimable_count=figures.get(queue.pk, {}).get("claimable_count", 0),
            oldest_claimable_at=figures.get(queue.pk, {}).get("oldest"),
            now=now,
        )
        for queue in queues
    ]
