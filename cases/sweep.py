"""The beat sweep: moves that happen by themselves when the database's clock says so."""

from recovery_desk import clock

from .errors import CaseError
from .execution import execution_redrive, stuck_executions
from .models import BreakGlassReview, RecoveryCase
from .review_services import review_escalate_overdue
from .services import case_end_hold, case_expire
from .states import OPEN_STATES, State


def case_sweep_due(*, batch_size: int) -> dict[str, int]:
    """End elapsed holds, expire overdue cases, re-drive executions stuck past their timeout,
    escalate break-glass reviews still open past their due time.

    Idempotent: each case (and review) is re-checked under its own lock, so a sweep that runs
    twice or alongside another changes nothing twice.
    """
    now = clock.now()
    counts = {"holds_ended": 0, "expired": 0, "executions_redriven": 0, "reviews_escalated": 0}
    due_holds = RecoveryCase.objects.filter(state=State.COOLING_OFF, hold_until__lte=now).order_by(
        "hold_until"
    )
    for case_id in due_holds.values_list("pk", flat=True)[:batch_size]:
        try:
            case_end_hold(case=RecoveryCase(pk=case_id))
            counts["holds_ended"] += 1
        except CaseError:
            pass  # moved on meanwhile: nothing left to do
    overdue = RecoveryCase.objects.filter(state__in=OPEN_STATES, expires_at__lte=now).order_by(
        "expires_at"
    )
    for case_id in overdue.values_list("pk", flat=True)[:batch_size]:
        try:
            case_expire(case=RecoveryCase(pk=case_id))
            counts["expired"] += 1
        except CaseError:
            pass
    for case_id in stuck_executions(now=now, limit=batch_size):
        if execution_redrive(case_id=case_id) != "nothing":
            counts["executions_redriven"] += 1
    overdue_reviews = BreakGlassReview.objects.filter(
        closed_at__isnull=True, escalated_at__isnull=True, due_at__lte=now
    ).order_by("due_at", "pk")
    for review_id in overdue_reviews.values_list("pk", flat=True)[:batch_size]:
        if review_escalate_overdue(review_id=review_id):
            counts["reviews_escalated"] += 1
    return counts
