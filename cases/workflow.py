"""Steps shared by every service that moves a case (cases, verification, approvals)."""

from datetime import UTC, datetime, timedelta

from django.db.models import Q

from . import roles
from .errors import GuardFailed, PermissionRefused
from .models import RecoveryCase
from .policy import PinnedPolicy
from .states import State


def fmt_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _is_person(user, identity) -> bool:
    return (
        identity.staff_user_id == user.pk
        or identity.username.casefold() == user.get_username().casefold()
    )


def is_subject(user, identity) -> bool:
    """Is this staff member the person being recovered, or the human owner answering for a
    service identity? (linked account, or the same username in any letter case)
    """
    if _is_person(user, identity):
        return True
    return identity.owner_id is not None and _is_person(user, identity.owner)


def own_account_filter(user, *, prefix: str) -> Q:
    """The same rule as ``is_subject``, as a filter on identities reached through ``prefix``."""
    name = user.get_username()
    return (
        Q(**{f"{prefix}staff_user": user})
        | Q(**{f"{prefix}username__iexact": name})
        | Q(**{f"{prefix}owner__staff_user": user})
        | Q(**{f"{prefix}owner__username__iexact": name})
    )


def lock_case(case_id: int) -> RecoveryCase:
    """Re-read the case under a row lock; guards are checked on this copy, never a stale one."""
    return (
        RecoveryCase.objects.select_for_update(of=("self",))
        .select_related("queue", "subject")
        .get(pk=case_id)
    )


def ensure_working_agent(case: RecoveryCase, actor) -> None:
    """The agent who claimed the case, and still an agent of its queue: someone removed from
    the role (or deactivated) since claiming cannot go on with the case.
    """
    if case.assigned_agent_id != actor.pk:
        raise PermissionRefused(f"Only the agent who claimed {case.reference} may do this.")
    if not roles.can_work(actor, case.queue):
        raise PermissionRefused(
            f"You no longer work the {case.queue} queue, so you cannot go on with "
            f"{case.reference}.",
            code="role_revoked",
        )
    if is_subject(actor, case.subject):
        raise PermissionRefused("Nobody may act on the recovery of their own account.")


def ensure_not_expired(case: RecoveryCase, now: datetime) -> None:
    if case.expires_at is not None and now >= case.expires_at:
        raise GuardFailed(
            f"{case.reference} passed its deadline at {fmt_utc(case.expires_at)}; "
            "it can only expire now.",
            code="deadline_passed",
        )


def ensure_hold_elapsed(case: RecoveryCase, now: datetime) -> None:
    if case.break_glass_by_id is None and case.hold_until is not None and now < case.hold_until:
        raise GuardFailed(
            f"The cooling-off period of {case.reference} ends at {fmt_utc(case.hold_until)}.",
            code="cooling_off",
        )


def ensure_outside_recovery_gap(case: RecoveryCase, policy: PinnedPolicy, now: datetime) -> None:
    """A second recovery of one kind inside the policy's gap needs a security reviewer's release."""
    if policy.recovery_gap <= timedelta(0) or case.gap_released_by_id is not None:
        return
    previous = (
        RecoveryCase.objects.filter(
            subject_id=case.subject_id,
            kind=case.kind,
            state=State.COMPLETED,
            closed_at__gt=now - policy.recovery_gap,
        )
        .exclude(Q(pk=case.pk))
        .order_by("-closed_at")
        .values_list("closed_at", flat=True)
        .first()
    )
    if previous is not None:
        raise GuardFailed(
            f"{case.subject} completed a {case.get_kind_display().lower()} at "
            f"{fmt_utc(previous)}; another one before {fmt_utc(previous + policy.recovery_gap)} "
            "needs a security reviewer's release.",
            code="recovery_gap",
        )


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
        return State.COOLING_OFF, ("cooling_off_at", "hold_until", "expires_at")
    return stage_ready(case, policy, now)


def stage_ready(
    case: RecoveryCase, policy: PinnedPolicy, now: datetime
) -> tuple[str, tuple[str, ...]]:
    case.ready_at = now
    case.expires_at = now + policy.ready_deadline
    return State.READY, ("ready_at", "expires_at")
