"""Every write to a recovery case. Each function: one transaction, the case row locked and
re-read, guards re-checked on it and on the clock, exactly one audit event (via
``apply_transition`` or ``audit_record``). A refused action raises a ``CaseError`` and writes
nothing.
"""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from directory.models import AccountState, Authenticator, Identity
from directory.services import recovery_apply
from verification.selectors import evidence_summary

from . import roles
from .errors import CaseError, GuardFailed, PermissionRefused
from .models import Queue, RecoveryCase
from .policy import pinned_policy, policy_for
from .states import OPEN_STATES, Channel, Kind, State
from .transitions import apply_transition
from .workflow import (
    ensure_hold_elapsed,
    ensure_not_expired,
    ensure_outside_recovery_gap,
    ensure_working_agent,
    fmt_utc,
    is_subject,
    lock_case,
    own_account_filter,
    stage_after_approval,
    stage_ready,
)


def _ensure_not_subject(actor: User, case_or_identity) -> None:
    if is_subject(actor, getattr(case_or_identity, "subject", case_or_identity)):
        raise PermissionRefused("Nobody may act on the recovery of their own account.")


def _ensure_security_reviewer(actor: User, case: RecoveryCase, doing: str) -> None:
    """A reviewer oversees the people on the case, so is never one of them (someone holding
    both the agent and the reviewer role cannot release or break glass on their own work).
    """
    if not roles.can_review(actor, case.queue):
        raise PermissionRefused(f"Only a security reviewer of {case.queue} may {doing}.")
    _ensure_not_subject(actor, case)
    if actor.pk in (case.opened_by_id, case.assigned_agent_id, case.verified_by_id):
        raise PermissionRefused(
            f"You opened or worked {case.reference}; another security reviewer must {doing}."
        )


def _require_reason(text: str, ask: str) -> None:
    if not text.strip():
        raise CaseError(ask, code="reason_required")


def case_open(
    *,
    actor: User,
    subject: Identity,
    kind: str,
    intake_channel: str,
    external_ticket: str = "",
    replaced_authenticator: Authenticator | None = None,
) -> RecoveryCase:
    """Open a case under the policy in force now; the case pins that policy version."""
    queue = Queue.objects.filter(kind=kind).first()
    if queue is None:
        raise CaseError(f"There is no queue for '{kind}' recoveries.", code="unknown_kind")
    if intake_channel not in Channel.values:
        raise CaseError(
            f"'{intake_channel}' is not an intake channel ({', '.join(Channel.values)}).",
            code="unknown_channel",
        )
    if not roles.can_work(actor, queue):
        raise PermissionRefused(f"You do not work the {queue} queue.")
    with transaction.atomic():
        subject = Identity.objects.select_for_update().get(pk=subject.pk)
        _ensure_not_subject(actor, subject)
        existing = RecoveryCase.objects.filter(
            subject=subject, kind=kind, state__in=OPEN_STATES
        ).first()
        if existing is not None:
            raise CaseError(
                f"{existing.reference} is already open for {subject}; work that case instead.",
                code="duplicate_case",
            )
        if kind != Kind.REACTIVATION and subject.account_state == AccountState.DISABLED:
            raise CaseError(
                f"{subject} is disabled: a reactivation case, under its own policy, comes first.",
                code="account_disabled",
            )
        if replaced_authenticator is not None and (
            kind != Kind.MFA_REBIND
            or replaced_authenticator.identity_id != subject.pk
            or not replaced_authenticator.is_active
        ):
            raise CaseError(
                "The authenticator to replace must be an active one of this identity, "
                "on an MFA re-bind case.",
                code="bad_authenticator",
            )
        policy = policy_for(kind=kind, risk_tier=subject.risk_tier)
        now = timezone.now()
        case = RecoveryCase.objects.create(
            kind=kind,
            queue=queue,
            subject=subject,
            replaced_authenticator=replaced_authenticator,
            intake_channel=intake_channel,
            external_ticket=external_ticket,
            opened_by=actor,
            risk_tier=subject.risk_tier,
            policy_rule_id=policy.rule_id,
            policy_version=policy.version,
            policy_snapshot=policy.to_snapshot(),
            opened_at=now,
            expires_at=now + policy.claim_deadline,
        )
        audit_record(
            actor=actor,
            action="case.open",
            case=case,
            new_state=case.state,
            detail={"policy_version": policy.version, "intake_channel": intake_channel},
        )
    return case


def _claim_locked(case: RecoveryCase, agent: User, *, role_checked: bool = False) -> RecoveryCase:
    now = timezone.now()
    if case.assigned_agent_id is not None:
        raise CaseError(f"{case.reference} is already claimed.", code="already_claimed")
    if not role_checked and not roles.can_work(agent, case.queue):
        raise PermissionRefused(f"You do not work the {case.queue} queue.")
    _ensure_not_subject(agent, case)
    ensure_not_expired(case, now)
    policy = pinned_policy(case)
    case.assigned_agent = agent
    case.claimed_at = now
    case.expires_at = now + policy.verify_deadline
    apply_transition(
        case,
        "claim",
        target=State.VERIFYING,
        actor=agent,
        update_fields=("assigned_agent", "claimed_at", "expires_at"),
    )
    return case


def case_claim(*, case: RecoveryCase, agent: User) -> RecoveryCase:
    with transaction.atomic():
        return _claim_locked(lock_case(case.pk), agent)


def case_claim_next(*, queue: Queue, agent: User) -> RecoveryCase | None:
    """Take the oldest claimable case; SKIP LOCKED lets concurrent agents pass each other by."""
    if not roles.can_work(agent, queue):
        raise PermissionRefused(f"You do not work the {queue} queue.")
    with transaction.atomic():
        candidate = (
            RecoveryCase.objects.filter(
                queue=queue,
                state=State.NEW,
                assigned_agent__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .exclude(own_account_filter(agent, prefix="subject__"))
            .select_related("subject")
            .order_by("opened_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if candidate is None:
            return None
        candidate.queue = queue
        # The candidate row is already locked by this transaction: no second read.
        return _claim_locked(candidate, agent, role_checked=True)


def case_verify(*, case: RecoveryCase, actor: User) -> RecoveryCase:
    """Close verification when the system-checked evidence meets the pinned policy."""
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        if case.state != State.VERIFYING:
            raise CaseError(f"{case.reference} is not being verified.", code="not_verifying")
        ensure_working_agent(case, actor)
        ensure_not_expired(case, now)
        policy = pinned_policy(case)
        summary = evidence_summary(case=case)
        if (
            summary.score < policy.min_evidence_score
            or len(summary.factors) < policy.min_independent_methods
        ):
            raise GuardFailed(
                f"The evidence scores {summary.score} of the {policy.min_evidence_score} this "
                f"policy needs, from {len(summary.factors)} of "
                f"{policy.min_independent_methods} independent methods.",
                code="insufficient_evidence",
            )
        ensure_outside_recovery_gap(case, policy, now)
        case.verified_by = actor
        case.verified_at = now
        target: str
        if policy.approvals_required > 0:
            target = State.AWAITING_APPROVAL
            case.expires_at = now + policy.approval_deadline
            fields: tuple[str, ...] = ("expires_at",)
        else:
            target, fields = stage_after_approval(case, policy, now)
        apply_transition(
            case,
            "verify",
            target=target,
            actor=actor,
            update_fields=("verified_by", "verified_at", *fields),
            detail={"score": summary.score, "methods": sorted(summary.methods)},
        )
    return case


def case_release(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """A security reviewer sends an escalated case back to verification."""
    with transaction.atomic():
        case = lock_case(case.pk)
        _ensure_security_reviewer(actor, case, "release it")
        if case.state != State.ESCALATED:
            raise CaseError(f"{case.reference} is not escalated.", code="not_escalated")
        _require_reason(reason, "Say why the case may go on.")
        now = timezone.now()
        case.failed_checks = 0
        case.released_at = now
        case.expires_at = now + pinned_policy(case).verify_deadline
        apply_transition(
            case,
            "release",
            target=State.VERIFYING,
            actor=actor,
            update_fields=("failed_checks", "released_at", "expires_at"),
            detail={"reason": reason},
        )
    return case


def case_gap_release(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """A security reviewer lets a recovery inside the policy's minimum gap go on."""
    with transaction.atomic():
        case = lock_case(case.pk)
        _ensure_security_reviewer(actor, case, "release it")
        if not case.is_open:
            raise CaseError(f"{case.reference} is closed.", code="closed")
        if case.gap_released_by_id is not None:
            raise CaseError(f"{case.reference} is already released.", code="already_released")
        _require_reason(reason, "Say why the case may go on.")
        ensure_not_expired(case, timezone.now())
        case.gap_released_by = actor
        case.save(update_fields=["gap_released_by"])
        audit_record(actor=actor, action="case.gap_release", case=case, detail={"reason": reason})
    return case


def case_reject(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """End a case that must not succeed: the assigned agent while verifying, a security
    reviewer once escalated (suspected fraud; 800-63A-4 asks for a way to flag it).
    """
    with transaction.atomic():
        case = lock_case(case.pk)
        if case.state == State.ESCALATED:
            _ensure_security_reviewer(actor, case, "reject an escalated case")
        elif case.state == State.VERIFYING:
            ensure_working_agent(case, actor)
        else:
            raise CaseError(
                f"{case.reference} is {case.get_state_display().lower()}; only a case being "
                "verified or an escalated one can be rejected here.",
                code="not_rejectable",
            )
        _require_reason(reason, "Say why the case is rejected.")
        ensure_not_expired(case, timezone.now())
        case.closing_reason = reason
        apply_transition(
            case,
            "reject",
            target=State.REJECTED,
            actor=actor,
            update_fields=("closing_reason",),
        )
    return case


def case_end_hold(*, case: RecoveryCase, actor: User | None = None) -> RecoveryCase:
    """Cooling-off is over once the database clock passes ``hold_until``; never earlier."""
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        if case.state != State.COOLING_OFF:
            raise CaseError(f"{case.reference} is not cooling off.", code="not_cooling_off")
        ensure_hold_elapsed(case, now)
        target, fields = stage_ready(case, pinned_policy(case), now)
        apply_transition(case, "end_hold", target=target, actor=actor, update_fields=fields)
    return case


def case_execute(*, case: RecoveryCase, actor: User) -> RecoveryCase:
    """Carry out the recovery on the directory and complete the case."""
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        ensure_hold_elapsed(case, now)
        if case.state != State.READY:
            raise CaseError(
                f"{case.reference} is {case.get_state_display().lower()}, not ready.",
                code="not_ready",
            )
        ensure_working_agent(case, actor)
        ensure_not_expired(case, now)
        ensure_outside_recovery_gap(case, pinned_policy(case), now)
        changed = recovery_apply(
            identity=Identity.objects.select_for_update().get(pk=case.subject_id),
            kind=case.kind,
            replaced_authenticator_id=case.replaced_authenticator_id,
        )
        apply_transition(
            case,
            "execute",
            target=State.COMPLETED,
            actor=actor,
            detail={"directory": changed},
        )
    return case


def case_break_glass(*, case: RecoveryCase, actor: User, justification: str) -> RecoveryCase:
    """Skip the remaining steps in an emergency; always leaves a trail for post-event review."""
    with transaction.atomic():
        case = lock_case(case.pk)
        _ensure_security_reviewer(actor, case, "break glass")
        if len(justification.strip()) < 20:
            raise CaseError(
                "Break-glass needs a written justification of at least 20 characters.",
                code="justification_required",
            )
        now = timezone.now()
        ensure_not_expired(case, now)
        case.break_glass_by = actor
        case.break_glass_justification = justification
        target, fields = stage_ready(case, pinned_policy(case), now)
        apply_transition(
            case,
            "break_glass",
            target=target,
            actor=actor,
            update_fields=("break_glass_by", "break_glass_justification", *fields),
            detail={"justification": justification},
        )
    return case


def case_dispute(*, case: RecoveryCase, statement: str) -> RecoveryCase:
    """The subject says "this was not me": the case ends at once, whatever its state."""
    with transaction.atomic():
        case = lock_case(case.pk)
        if not case.is_open:
            raise CaseError(f"{case.reference} is already closed.", code="closed")
        case.closing_reason = statement[:2000]
        apply_transition(
            case,
            "dispute",
            target=State.CANCELLED,
            actor=None,
            update_fields=("closing_reason",),
        )
    return case


def case_expire(*, case: RecoveryCase) -> RecoveryCase:
    """Expire a case whose stage deadline has passed (re-checked against the clock here)."""
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        if not case.is_open:
            raise CaseError(f"{case.reference} is already closed.", code="closed")
        if case.expires_at is None or now < case.expires_at:
            deadline = fmt_utc(case.expires_at) if case.expires_at else "no deadline"
            raise GuardFailed(
                f"{case.reference} is not due to expire ({deadline}).", code="not_due"
            )
        apply_transition(case, "expire", target=State.EXPIRED, actor=None)
    return case


def case_sweep_due(*, batch_size: int) -> dict[str, int]:
    """End elapsed holds, then expire overdue cases. Idempotent: each case is re-checked
    under its own lock, so a sweep that runs twice or alongside another changes nothing twice.
    """
    now = timezone.now()
    counts = {"holds_ended": 0, "expired": 0}
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
    return counts
