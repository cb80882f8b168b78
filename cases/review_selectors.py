"""Reads for security reviewers: escalated cases and break-glass reviews of their queues.

Every list reads in a constant number of queries, whatever its length: the desk's pages must
not slow down as the backlog grows (the same rule as ``cases/selectors.py``).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, QuerySet

from audit.actions import Action
from audit.describe import state_label
from audit.models import AuditEvent

from . import access
from .errors import Refusal
from .models import BreakGlassReview, RecoveryCase
from .states import State
from .transitions import TRANSITIONS

# What sends a case to security: the system after too many failed checks, or a person's flag.
ESCALATING_ACTIONS = (Action.CASE_ESCALATE, Action.CASE_FLAG_FRAUD)
SCOPE_WORDS = {
    "subject": "the subject",
    "holder": "the person answering",
    "authenticator": "one authenticator",
}


def _with_overdue(rows: QuerySet[BreakGlassReview], now: datetime) -> QuerySet[BreakGlassReview]:
    return rows.annotate(overdue=ExpressionWrapper(Q(due_at__lte=now), output_field=BooleanField()))


def _reviews_for(viewer, queue_ids: Collection[int]) -> QuerySet[BreakGlassReview]:
    """Reviews of cases in these queues, but never of the viewer's own recovery: they may not
    open that case, so no list shows it to them."""
    return BreakGlassReview.objects.filter(case__queue_id__in=queue_ids).exclude(
        access.own_account_filter(viewer, prefix="case__subject__")
    )


def open_reviews(
    *, viewer, queue_ids: Collection[int], now: datetime, limit: int | None = None
) -> QuerySet[BreakGlassReview]:
    """Open reviews of cases in these queues, due soonest first (so overdue ones lead), each
    with ``overdue``; one query."""
    rows = _with_overdue(
        _reviews_for(viewer, queue_ids)
        .filter(closed_at__isnull=True)
        .select_related("case", "case__subject", "case__queue", "used_by")
        .order_by("due_at", "pk"),
        now,
    )
    return rows[:limit] if limit is not None else rows


def closed_reviews(
    *, viewer, queue_ids: Collection[int], limit: int = 20
) -> QuerySet[BreakGlassReview]:
    """The most recently closed reviews of these queues; one query."""
    return (
        _reviews_for(viewer, queue_ids)
        .filter(closed_at__isnull=False)
        .select_related("case", "case__subject", "used_by", "reviewer")
        .order_by("-closed_at", "-pk")[:limit]
    )


def overdue_review_count(*, viewer, queue_ids: Collection[int], now: datetime) -> int:
    return _reviews_for(viewer, queue_ids).filter(closed_at__isnull=True, due_at__lte=now).count()


@dataclass(frozen=True)
class Escalation:
    """One escalated case waiting for security, why it escalated and what this reviewer may do."""

    case: RecoveryCase
    cause: str  # "case.escalate" or "case.flag_fraud", "" when the trail says nothing
    why: str
    raised_by: str
    raised_at: datetime | None
    release_refusal: Refusal | None
    reject_refusal: Refusal | None


def _why(event: AuditEvent | None) -> str:
    if event is None:
        return "No escalation is recorded in the trail."
    detail = event.detail or {}
    if event.action == Action.CASE_FLAG_FRAUD:
        return f"Flagged for suspected fraud: {detail.get('reason', '(no reason given)')}"
    failures = detail.get("failures") or {}
    scopes = [scope for scope in SCOPE_WORDS if scope in failures]
    scopes += sorted(set(failures) - set(SCOPE_WORDS))
    counted = ", ".join(
        f"{failures[scope]} for {SCOPE_WORDS.get(scope, scope)}" for scope in scopes
    )
    checked_by = detail.get("checked_by")
    return (
        "Failed evidence checks reached the policy's limit"
        + (f" ({counted})" if counted else "")
        + (f", checked by {checked_by}" if checked_by else "")
        + "."
    )


def _overseer_refusal(
    case: RecoveryCase, name: str, user, *, reviews: bool, decided: bool, now: datetime
) -> Refusal | None:
    """The table's refusal of a reviewer's action on an escalated case (``refusal_for``), from
    facts read for every row at once: the state is escalated, the actor rule is
    ``access.reviewer_apart_known``, then the row's guards."""
    if refusal := access.reviewer_apart_known(case, user, reviews=reviews, decided=decided):
        return refusal
    for guard in TRANSITIONS[name].guards:
        if refusal := guard(case, user, now):
            return refusal
    return None


def escalated_cases(*, user, queue_ids: Collection[int], now: datetime) -> list[Escalation]:
    """Escalated cases of these queues, longest waiting first, each with its cause (the last
    escalate or flag event) and ``user``'s refusals for release and reject. Three queries."""
    from approvals.models import Approval

    events = AuditEvent.objects.filter(action__in=ESCALATING_ACTIONS).order_by("-id")
    cases = list(
        RecoveryCase.objects.filter(state=State.ESCALATED, queue_id__in=queue_ids)
        .exclude(access.own_account_filter(user, prefix="subject__"))
        .select_related("queue", "subject", "subject__owner", "assigned_agent", "opened_by")
        .prefetch_related(Prefetch("audit_events", queryset=events, to_attr="escalations"))
        .order_by("escalated_at", "pk")
    )
    decided = set(
        Approval.objects.filter(case__in=[c.pk for c in cases], approver_id=user.pk).values_list(
            "case_id", flat=True
        )
    )
    rows = []
    for case in cases:
        last = case.escalations[0] if case.escalations else None
        reviews, took_decision = case.queue_id in queue_ids, case.pk in decided
        release, reject = (
            _overseer_refusal(case, name, user, reviews=reviews, decided=took_decision, now=now)
            for name in ("release", "reject")
        )
        rows.append(
            Escalation(
                case=case,
                cause=last.action if last else "",
                why=_why(last),
                raised_by=last.actor_label if last else "",
                raised_at=last.occurred_at if last else case.escalated_at,
                release_refusal=release,
                reject_refusal=reject,
            )
        )
    return rows


@dataclass(frozen=True)
class ReviewerSummary:
    """The reviewer's section of the desk home."""

    escalated_count: int
    open_count: int
    overdue_count: int
    escalated: list[RecoveryCase]
    reviews: list[BreakGlassReview]  # the soonest due, overdue first


def reviewer_summary(
    *, viewer, queue_ids: Collection[int], now: datetime, limit: int = 5
) -> ReviewerSummary:
    """Counts and the first few rows of each list; five queries whatever the backlog."""
    escalated = RecoveryCase.objects.filter(state=State.ESCALATED, queue_id__in=queue_ids).exclude(
        access.own_account_filter(viewer, prefix="subject__")
    )
    reviews = _reviews_for(viewer, queue_ids).filter(closed_at__isnull=True)
    return ReviewerSummary(
        escalated_count=escalated.count(),
        open_count=reviews.count(),
        overdue_count=overdue_review_count(viewer=viewer, queue_ids=queue_ids, now=now),
        escalated=list(
            escalated.select_related("subject", "queue").order_by("escalated_at", "pk")[:limit]
        ),
        reviews=list(open_reviews(viewer=viewer, queue_ids=queue_ids, now=now, limit=limit)),
    )


@dataclass(frozen=True)
class Happening:
    """One event of the case's trail, in words."""

    at: datetime
    who: str
    what: str
    old_state: str
    new_state: str


@dataclass(frozen=True)
class BreakGlassFacts:
    """What a reviewer judges: who broke glass, why, in which words, when, and what then
    happened in the case."""

    review: BreakGlassReview
    justification: str
    used_at: datetime
    state_before: str
    since: list[Happening]


def break_glass_facts(*, review: BreakGlassReview) -> BreakGlassFacts:
    """The break-glass event that opened ``review`` and every event of the case after it;
    one query."""
    trail = list(
        AuditEvent.objects.filter(
            case_id=review.case_id, occurred_at__gte=review.opened_at
        ).order_by("id")
    )
    opening = next(
        (
            event
            for event in trail
            if event.action == Action.CASE_BREAK_GLASS
            and (event.detail or {}).get("review_id") == review.pk
        ),
        None,
    )
    since = [
        Happening(
            at=event.occurred_at,
            who=event.actor_label,
            what=event.get_action_display(),
            old_state=state_label(event.old_state),
            new_state=state_label(event.new_state),
        )
        for event in trail
        if opening is None or event.pk > opening.pk
    ]
    if opening is not None:
        justification = (opening.detail or {}).get("justification", "")
    else:
        justification = review.case.break_glass_justification
    return BreakGlassFacts(
        review=review,
        justification=justification,
        used_at=opening.occurred_at if opening else review.opened_at,
        state_before=state_label(opening.old_state) if opening else "",
        since=since,
    )


def review_for_page(*, review_id: int) -> BreakGlassReview | None:
    """One review with everything its page shows, in one query; None when there is none."""
    return (
        BreakGlassReview.objects.select_related(
            "case",
            "case__queue",
            "case__subject",
            "case__subject__owner",
            "used_by",
            "reviewer",
        )
        .filter(pk=review_id)
        .first()
    )
