"""Steps shared by every service that moves a case (cases, verification, approvals)."""

from datetime import UTC, datetime, timedelta

from django.db.models.functions import Now

from recovery_desk import clock

from .dispute_services import case_notice
from .models import RecoveryCase
from .policy import PinnedPolicy
from .states import State


def lock_case(case_id: int) -> tuple[RecoveryCase, datetime]:
    """Re-read the case under a row lock, with the database's clock read in the same statement.

    Guards are checked on this copy, never a stale one, against this time, never the app
    host's (docs/design.md "Time").
    """
    case = (
        RecoveryCase.objects.select_for_update(of=("self",))
        .select_related("queue", "subject", "subject__owner")
        .annotate(database_now=Now())
        .get(pk=case_id)
    )
    return case, clock.now(read=case.database_now)


def stage_after_approval(
    case: RecoveryCase, policy: PinnedPolicy, now: datetime
) -> tuple[str, tuple[str, ...]]:
    """Where a case goes once approvals are complete (or not required): hold, or straight to ready.

    Returns the target state and the fields it set.
    """
    if policy.cooling_off > timedelta(0):
        case.cooling_off_at = now
        case.hold_until = now + policy.cooling_off
        case.expires_at = None
        # The real owner's last chance: every channel of record hears of the hold, with a
        # dispute link (sent when this transaction commits).
        case_notice(
            case,
            "cooling_off_started",
            hold_until=case.hold_until.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        )
        return State.COOLING_OFF, ("cooling_off_at", "hold_until", "expires_at")
    return stage_ready(case, policy, now)


def stage_ready(
    case: RecoveryCase, policy: PinnedPolicy, now: datetime
) -> tuple[str, tuple[str, ...]]:
    case.ready_at = now
    case.expires_at = now + policy.ready_deadline
    return State.READY, ("ready_at", "expires_at")
