"""Writes to break-glass reviews (docs/design.md "Break-glass reviews").

``case_break_glass`` opens a review in the transaction of the break-glass itself. Another
security reviewer, who took no part in the case, closes it (``review_close``); the sweep marks
a review still open at ``due_at`` overdue (``review_escalate_overdue``). Same house rules as
``cases/services.py``: one transaction, the rows locked and re-read with the database's clock,
every check made on the locked rows, one audit event, nothing written when refused.
"""

from datetime import datetime

import structlog
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import Now

from audit.actions import Action
from audit.services import audit_record
from recovery_desk import clock
from recovery_desk.actors import SYSTEM

from . import access
from .errors import CaseError, Refusal
from .models import BreakGlassReview, ReviewOutcome
from .workflow import lock_case
from .written import is_written_out

log = structlog.get_logger(__name__)

MIN_FINDINGS_WORDS = 4


def close_refusal(review: BreakGlassReview, actor, now: datetime) -> Refusal | None:
    """Why ``actor`` may not close ``review`` now, or None: the review first (still open), then
    the person (``access.break_glass_reviewer``). The service asks it on the locked rows, the
    review page to draw the form enabled or disabled with the same sentence."""
    if review.closed_at is not None:
        return Refusal(
            "review_closed",
            f"The break-glass review of {review.case.reference} is already closed.",
            "state",
        )
    return access.break_glass_reviewer(review, actor, now)


def _require_outcome(outcome: str) -> None:
    if outcome not in ReviewOutcome.values:
        listed = " or ".join(f"'{label}'" for label in ReviewOutcome.labels)
        raise CaseError(f"Choose the outcome of the review: {listed}.", code="outcome_required")


def _require_findings(findings: str) -> None:
    """Findings are read later by auditors: a sentence, not a tick (at least 20 characters
    and four different words)."""
    if not is_written_out(findings, min_words=MIN_FINDINGS_WORDS):
        raise CaseError(
            "Write the findings in a sentence: at least 20 characters and "
            f"{MIN_FINDINGS_WORDS} different words saying what the review found.",
            code="findings_required",
        )


def _require_follow_up(outcome: str, follow_up: str) -> None:
    """A break-glass found not justified always leads somewhere: say where."""
    if outcome == ReviewOutcome.NOT_JUSTIFIED and not follow_up.strip():
        raise CaseError(
            "A break-glass found not justified needs follow-up actions: say what happens next.",
            code="follow_up_required",
        )


def _lock_review(review_id: int) -> tuple[BreakGlassReview, datetime]:
    """Re-read the review under a row lock, with the database's clock in the same statement."""
    review = (
        BreakGlassReview.objects.select_for_update(of=("self",))
        .select_related("used_by")
        .annotate(database_now=Now())
        .get(pk=review_id)
    )
    return review, clock.now(read=review.database_now)


def review_close(
    *,
    review: BreakGlassReview,
    reviewer: User,
    outcome: str,
    findings: str,
    follow_up: str = "",
) -> BreakGlassReview:
    """Close a break-glass review with an outcome, findings and follow-up actions.

    Locks the case, then the review (the order every writer takes: ``case_break_glass`` locks
    the case before it creates a review; on PostgreSQL the other order deadlocks, since the
    audit event's reference to the case waits for the case's lock), so nobody can take part in
    the case while it is being judged; every check is made on those rows against the
    database's clock.
    """
    case_id = BreakGlassReview.objects.values_list("case_id", flat=True).get(pk=review.pk)
    with transaction.atomic():
        case, _ = lock_case(case_id)
        review, now = _lock_review(review.pk)
        review.case = case
        if refusal := close_refusal(review, reviewer, now):
            raise refusal.error()
        _require_outcome(outcome)
        _require_findings(findings)
        _require_follow_up(outcome, follow_up)
        review.reviewer = reviewer
        review.closed_at = now
        review.outcome = outcome
        review.findings = findings.strip()
        review.follow_up = follow_up.strip()
        review.save(update_fields=["reviewer", "closed_at", "outcome", "findings", "follow_up"])
        audit_record(
            actor=reviewer,
            action=Action.REVIEW_CLOSE,
            case=case,
            detail={
                "review_id": review.pk,
                "used_by": review.used_by.get_username(),
                "reason": review.reason,
                "outcome": outcome,
                "findings": review.findings,
                "follow_up": review.follow_up,
                "overdue": now >= review.due_at,
            },
            at=now,
        )
    return review


def review_escalate_overdue(*, review_id: int) -> bool:
    """The sweep's step: mark a review still open past ``due_at`` escalated, once.

    Locks the case, then the review (the order ``review_close`` takes), and re-checks the
    review on its locked row against the database's clock, so a sweep that runs twice or
    alongside another escalates it once; answers whether this call escalated it. Security
    hears of it through a warning in the log (after the commit, so never for a rollback).
    """
    case_id = BreakGlassReview.objects.values_list("case_id", flat=True).get(pk=review_id)
    with transaction.atomic():
        # The case first, as every writer does: the event's reference to the case would
        # otherwise wait for a closer holding the case while it waits for this review.
        case, _ = lock_case(case_id)
        review, now = _lock_review(review_id)
        if review.closed_at is not None or review.escalated_at is not None:
            return False
        if now < review.due_at:
            return False
        review.escalated_at = now
        review.save(update_fields=["escalated_at"])
        audit_record(
            actor=SYSTEM,
            action=Action.REVIEW_OVERDUE,
            case=case,
            detail={
                "review_id": review.pk,
                "used_by": review.used_by.get_username(),
                "reason": review.reason,
                "due_at": review.due_at,
            },
            at=now,
        )
        facts = {
            "review_id": review.pk,
            "case": case.reference,
            "used_by": review.used_by.get_username(),
            "reason": review.reason,
            "due_at": review.due_at.isoformat(),
        }
        transaction.on_commit(lambda: log.warning("cases.break_glass_review_overdue", **facts))
    return True
