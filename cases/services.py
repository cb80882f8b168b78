"""Every write to a recovery case. Each function: one transaction, the case row locked and
re-read with the database's clock, the transition table's rules checked on that row
(``ensure_allowed``), exactly one audit event (via ``apply_transition`` or ``audit_record``).
A refused action raises a ``CaseError`` and writes nothing.
"""

from datetime import datetime
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction

from audit.actions import Action
from audit.services import audit_record
from directory.models import Authenticator, Identity
from recovery_desk import clock
from recovery_desk.actors import SUBJECT, SYSTEM

from . import access
from .dispute_services import case_notice
from .errors import CaseError
from .execution import enqueue_execution, plan_refusal
from .guards import account_allows_kind, recovery_not_frozen
from .models import BreakGlassReason, BreakGlassReview, Queue, RecoveryCase
from .policy import pinned_policy, policy_for
from .states import OPEN_STATES, Channel, Kind, State
from .transitions import apply_transition, ensure_allowed
from .workflow import lock_case, stage_after_approval, stage_ready
from .written import is_written_out

MIN_JUSTIFICATION_WORDS = 5


def _require_reason(text: str, ask: str) -> None:
    if not text.strip():
        raise CaseError(ask, code="reason_required")


def _require_justification(text: str) -> None:
    """Break-glass is justified in words a reviewer can check later: at least 20 characters
    and five distinct words (twenty of one letter is not a justification)."""
    if not is_written_out(text, min_words=MIN_JUSTIFICATION_WORDS):
        raise CaseError(
            "Break-glass needs a written justification: at least 20 characters and "
            f"{MIN_JUSTIFICATION_WORDS} different words saying what the emergency is.",
            code="justification_required",
        )


def case_open(
    *,
    actor: User,
    subject: Identity,
    kind: str,
    intake_channel: str,
    external_ticket: str = "",
    replaced_authenticator: Authenticator | None = None,
) -> RecoveryCase:
    """Open a case under the policy in force now; the case pins that policy version.

    Refused when the configured directory cannot carry out this kind of recovery.
    """
    queue = Queue.objects.filter(kind=kind).first()
    if queue is None:
        raise CaseError(f"There is no queue for '{kind}' recoveries.", code="unknown_kind")
    if intake_channel not in Channel.values:
        raise CaseError(
            f"'{intake_channel}' is not an intake channel ({', '.join(Channel.values)}).",
            code="unknown_channel",
        )
    if refusal := plan_refusal(kind):
        raise refusal.error()
    with transaction.atomic():
        subject = (
            Identity.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=subject.pk)
        )
        if refusal := access.works_queue(actor, queue) or access.not_own_recovery(subject, actor):
            raise refusal.error()
        if refusal := access.owner_active(subject):
            raise refusal.error()
        now = clock.now()
        if refusal := recovery_not_frozen(subject, now):
            raise refusal.error()
        existing = RecoveryCase.objects.filter(
            subject=subject, kind=kind, state__in=OPEN_STATES
        ).first()
        if existing is not None:
            raise CaseError(
                f"{existing.reference} is already open for {subject}; work that case instead.",
                code="duplicate_case",
            )
        if refusal := account_allows_kind(subject, kind):
            raise refusal.error()
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
            action=Action.CASE_OPEN,
            case=case,
            new_state=case.state,
            detail={"policy_version": policy.version, "intake_channel": intake_channel},
            at=now,
        )
        case_notice(case, "case_opened")
    return case


def case_claim(*, case: RecoveryCase, agent: User) -> RecoveryCase:
    with transaction.atomic():
        locked, now = lock_case(case.pk)
        return _claim_locked(locked, now, agent)


def _claim_locked(case: RecoveryCase, now: datetime, agent: User) -> RecoveryCase:
    ensure_allowed(case, "claim", agent, now)
    case.assigned_agent = agent
    case.claimed_at = now
    case.expires_at = now + pinned_policy(case).verify_deadline
    apply_transition(
        case,
        "claim",
        target=State.VERIFYING,
        actor=agent,
        now=now,
        update_fields=("assigned_agent", "claimed_at", "expires_at"),
    )
    return case


def case_claim_next(*, queue: Queue, agent: User) -> RecoveryCase | None:
    """Take the oldest claimable case; SKIP LOCKED lets concurrent agents pass each other by.

    One statement finds, locks and reads the clock; the claim rule (role included) is then
    checked on that row. With nothing to claim, a person outside the queue is still told so.
    """
    with transaction.atomic():
        database_now = clock.now_expression()
        candidate = (
            RecoveryCase.objects.filter(
                queue=queue,
                state=State.NEW,
                assigned_agent__isnull=True,
                expires_at__gt=database_now,
            )
            .exclude(access.own_account_filter(agent, prefix="subject__"))
            .select_related("subject", "subject__owner")
            .annotate(database_now=database_now)
            .order_by("opened_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if candidate is None:
            if refusal := access.works_queue(agent, queue):
                raise refusal.error()
            return None
        candidate.queue = queue
        # The candidate row is already locked by this transaction: no second read.
        return _claim_locked(candidate, clock.now(read=candidate.database_now), agent)


def case_verify(*, case: RecoveryCase, actor: User) -> RecoveryCase:
    """Close verification when the system-checked evidence meets the pinned policy."""
    from verification.selectors import evidence_summary

    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "verify", actor, now)
        policy = pinned_policy(case)
        summary = evidence_summary(case=case)
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
            now=now,
            update_fields=("verified_by", "verified_at", *fields),
            detail={"score": summary.score, "methods": sorted(summary.methods)},
        )
    return case


def case_flag_fraud(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """Stop a case on suspicion of fraud or coaching (NIST SP 800-63A-4: proofing agents have a
    way to flag it): it escalates to security, who alone can let it go on, through verification
    and approval again."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "flag_fraud", actor, now)
        _require_reason(reason, "Say what makes you suspect fraud.")
        case.escalated_at = now
        case.expires_at = None
        case.hold_until = None
        apply_transition(
            case,
            "flag_fraud",
            target=State.ESCALATED,
            actor=actor,
            now=now,
            update_fields=("escalated_at", "expires_at", "hold_until"),
            detail={"reason": reason},
        )
    return case


def case_release(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """A security reviewer sends an escalated case back to verification; approvals given
    before it was escalated no longer count."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "release", actor, now)
        _require_reason(reason, "Say why the case may go on.")
        case.failed_checks = 0
        case.released_at = now
        case.expires_at = now + pinned_policy(case).verify_deadline
        apply_transition(
            case,
            "release",
            target=State.VERIFYING,
            actor=actor,
            now=now,
            update_fields=("failed_checks", "released_at", "expires_at"),
            detail={"reason": reason},
        )
    return case


def case_gap_release(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """A security reviewer lets a recovery inside the policy's minimum gap go on."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "gap_release", actor, now)
        _require_reason(reason, "Say why the case may go on.")
        case.gap_released_by = actor
        case.save(update_fields=["gap_released_by"])
        audit_record(
            actor=actor,
            action=Action.CASE_GAP_RELEASE,
            case=case,
            detail={"reason": reason},
            at=now,
        )
    return case


def case_reject(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """End a case that must not succeed: the assigned agent while verifying, a security
    reviewer once escalated (suspected fraud; 800-63A-4 asks for a way to flag it).
    """
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "reject", actor, now)
        _require_reason(reason, "Say why the case is rejected.")
        case.closing_reason = reason
        apply_transition(
            case,
            "reject",
            target=State.REJECTED,
            actor=actor,
            now=now,
            update_fields=("closing_reason",),
        )
    return case


def case_end_hold(*, case: RecoveryCase) -> RecoveryCase:
    """Cooling-off is over once the database clock passes ``hold_until``; never earlier.
    The system's step (the sweep): nobody ends a hold by hand."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "end_hold", SYSTEM, now)
        target, fields = stage_ready(case, pinned_policy(case), now)
        apply_transition(
            case, "end_hold", target=target, actor=SYSTEM, now=now, update_fields=fields
        )
    return case


def _lock_subject(case: RecoveryCase) -> None:
    """Lock the person's row and re-read it: its account state is checked on this copy."""
    case.subject = (
        Identity.objects.select_for_update(of=("self",))
        .select_related("owner")
        .get(pk=case.subject_id)
    )


def _start_execution(case: RecoveryCase, name: str, actor: User) -> RecoveryCase:
    with transaction.atomic():
        case, now = lock_case(case.pk)
        _lock_subject(case)
        ensure_allowed(case, name, actor, now)
        case.execution_started_at = now
        case.execution_attempts = 0
        case.expires_at = None
        apply_transition(
            case,
            name,
            target=State.EXECUTING,
            actor=actor,
            now=now,
            update_fields=("execution_started_at", "execution_attempts", "expires_at"),
        )
        transaction.on_commit(partial(enqueue_execution, case.pk))
    return case


def case_execute(*, case: RecoveryCase, actor: User) -> RecoveryCase:
    """Start carrying the recovery out: ``executing`` is committed first, then a task calls the
    directory outside any transaction (``cases/execution.py``)."""
    return _start_execution(case, "execute", actor)


def case_retry_execution(*, case: RecoveryCase, actor: User) -> RecoveryCase:
    """Send a case whose directory call failed back to the directory."""
    return _start_execution(case, "retry_execution", actor)


def case_abandon(*, case: RecoveryCase, actor: User, reason: str) -> RecoveryCase:
    """Give up on a case the directory cannot carry out; the subject opens a new one."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "abandon", actor, now)
        _require_reason(reason, "Say why the case is abandoned.")
        case.closing_reason = reason
        apply_transition(
            case,
            "abandon",
            target=State.ABANDONED,
            actor=actor,
            now=now,
            update_fields=("closing_reason",),
        )
    return case


def _require_break_glass_reason(reason: str) -> None:
    """The reason comes from a fixed list, so reviews can be counted by reason."""
    if reason not in BreakGlassReason.values:
        listed = "; ".join(str(label) for label in BreakGlassReason.labels)
        raise CaseError(
            f"Choose why glass is broken from the list ({listed}).",
            code="break_glass_reason",
        )


def case_break_glass(
    *, case: RecoveryCase, actor: User, reason: str, justification: str
) -> RecoveryCase:
    """Skip approvals and the hold in an emergency, never verification. Only a security
    reviewer who took no part in the case, with a reason from the list and a justification in
    words. The same transaction opens the post-event review another reviewer must close within
    the pinned policy's window (docs/design.md "Break-glass reviews")."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "break_glass", actor, now)
        _require_break_glass_reason(reason)
        _require_justification(justification)
        policy = pinned_policy(case)
        case.break_glass_by = actor
        case.break_glass_reason = reason
        case.break_glass_justification = justification
        review = BreakGlassReview.objects.create(
            case=case,
            used_by=actor,
            reason=reason,
            opened_at=now,
            due_at=now + policy.break_glass_review_window,
        )
        target, fields = stage_ready(case, policy, now)
        apply_transition(
            case,
            "break_glass",
            target=target,
            actor=actor,
            now=now,
            update_fields=(
                "break_glass_by",
                "break_glass_reason",
                "break_glass_justification",
                *fields,
            ),
            detail={
                "reason": reason,
                "justification": justification,
                "review_id": review.pk,
                "review_due_at": review.due_at,
            },
        )
    return case


def case_dispute(*, case: RecoveryCase, statement: str) -> RecoveryCase:
    """The subject says "this was not me": the case ends at once, whatever its state (but
    while the directory is being called, which cannot be stopped half way), and no recovery
    opens for the identity for the pinned policy's ``dispute_freeze`` unless a security
    reviewer lifts the freeze (``freeze_lift``). The ``case.dispute`` event names the freeze."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "dispute", SUBJECT, now)
        _lock_subject(case)
        until = now + pinned_policy(case).dispute_freeze
        subject = case.subject
        if subject.recovery_frozen_until is None or subject.recovery_frozen_until < until:
            subject.recovery_frozen_until = until
            subject.save(update_fields=["recovery_frozen_until"])
        case.closing_reason = statement[:2000]
        apply_transition(
            case,
            "dispute",
            target=State.CANCELLED,
            actor=SUBJECT,
            now=now,
            update_fields=("closing_reason",),
            detail={
                "statement": case.closing_reason,
                "frozen_until": subject.recovery_frozen_until,
            },
        )
    return case


def freeze_lift(*, identity: Identity, actor: User, reason: str) -> Identity:
    """A security reviewer (of any queue) lets recoveries open again for an identity frozen
    after a dispute; audited as ``identity.freeze_lift`` with the reason."""
    with transaction.atomic():
        identity = Identity.objects.select_for_update(of=("self",)).get(pk=identity.pk)
        now = clock.now()
        if refusal := access.security_reviewer_anywhere(actor) or access.not_own_recovery(
            identity, actor
        ):
            raise refusal.error()
        until = identity.recovery_frozen_until
        if until is None or until <= now:
            raise CaseError(f"Recovery for {identity} is not frozen.", code="not_frozen")
        _require_reason(reason, "Say why recoveries may open again.")
        identity.recovery_frozen_until = None
        identity.save(update_fields=["recovery_frozen_until"])
        audit_record(
            actor=actor,
            action=Action.IDENTITY_FREEZE_LIFT,
            identity=identity,
            detail={"reason": reason, "frozen_until": until},
            at=now,
        )
    return identity


def case_expire(*, case: RecoveryCase) -> RecoveryCase:
    """Expire a case whose stage deadline has passed (re-checked against the clock here)."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "expire", SYSTEM, now)
        apply_transition(case, "expire", target=State.EXPIRED, actor=SYSTEM, now=now)
    return case
