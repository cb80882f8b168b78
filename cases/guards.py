"""Guards of the transition table: named checks of the locked case, its evidence and the
clock, each ``(case, actor, now) -> Refusal | None`` with one stable code.

They are pure reads: the same function explains a disabled button on a screen and refuses
the action in its service. ``now`` is the database's clock (``recovery_desk.clock``).
"""

from datetime import UTC, datetime, timedelta

from django.db.models import Q

from directory.models import AccountState

from .errors import Refusal
from .models import RecoveryCase
from .policy import pinned_policy
from .states import Kind, State


def fmt_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def not_expired(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    if case.expires_at is not None and now >= case.expires_at:
        return Refusal(
            "deadline_passed",
            f"{case.reference} passed its deadline at {fmt_utc(case.expires_at)}; "
            "it can only expire now.",
        )
    return None


def deadline_passed(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """The sweep's side of ``not_expired``: only a case past its deadline expires."""
    if case.expires_at is None or now < case.expires_at:
        deadline = fmt_utc(case.expires_at) if case.expires_at else "no deadline"
        return Refusal("not_due", f"{case.reference} is not due to expire ({deadline}).")
    return None


def hold_elapsed(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    if case.break_glass_by_id is None and case.hold_until is not None and now < case.hold_until:
        return Refusal(
            "cooling_off",
            f"The cooling-off period of {case.reference} ends at {fmt_utc(case.hold_until)}.",
        )
    return None


def evidence_meets_policy(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """The system-checked evidence reaches the pinned policy's score and number of independent
    methods. Break-glass never skips this (it skips approvals and the hold, not verification)."""
    from verification.selectors import evidence_summary

    policy = pinned_policy(case)
    summary = evidence_summary(case=case)
    if (
        summary.score < policy.min_evidence_score
        or len(summary.factors) < policy.min_independent_methods
    ):
        return Refusal(
            "insufficient_evidence",
            f"The evidence scores {summary.score} of the {policy.min_evidence_score} this "
            f"policy needs, from {len(summary.factors)} of "
            f"{policy.min_independent_methods} independent methods.",
        )
    return None


def outside_recovery_gap(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """A second recovery of one kind inside the policy's gap needs a security reviewer's release."""
    policy = pinned_policy(case)
    if policy.recovery_gap <= timedelta(0) or case.gap_released_by_id is not None:
        return None
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
        return Refusal(
            "recovery_gap",
            f"{case.subject} completed a {case.get_kind_display().lower()} at "
            f"{fmt_utc(previous)}; another one before {fmt_utc(previous + policy.recovery_gap)} "
            "needs a security reviewer's release.",
        )
    return None


def not_gap_released(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    if case.gap_released_by_id is not None:
        return Refusal("already_released", f"{case.reference} is already released.")
    return None


def account_allows_kind(subject, kind: str) -> Refusal | None:
    """A disabled account gets no reset or re-bind until it is reactivated; an active account
    has nothing to reactivate (a locked one may be: reactivation enables it)."""
    if kind != Kind.REACTIVATION and subject.account_state == AccountState.DISABLED:
        return Refusal(
            "account_disabled",
            f"{subject} is disabled: a reactivation case, under its own policy, comes first.",
        )
    if kind == Kind.REACTIVATION and subject.account_state == AccountState.ACTIVE:
        return Refusal("account_active", f"{subject} is active: there is nothing to reactivate.")
    return None


def account_state_allows(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """Re-read on the locked identity at execution: an account disabled after verification
    is not recovered."""
    return account_allows_kind(case.subject, case.kind)


def owner_active(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    from .access import owner_active as owner_is_active

    return owner_is_active(case.subject)


def recovery_not_frozen(subject, now: datetime) -> Refusal | None:
    """After the subject disputed a case ("this was not me"), no recovery opens for them until
    the freeze ends or a security reviewer lifts it."""
    until = subject.recovery_frozen_until
    if until is not None and now < until:
        return Refusal(
            "recovery_frozen",
            f"Recovery for {subject} is frozen until {fmt_utc(until)} because the subject "
            "disputed a case; only a security reviewer can lift the freeze.",
        )
    return None
