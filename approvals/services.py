from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from cases import roles
from cases.models import RecoveryCase
from cases.policy import PinnedPolicy, pinned_policy
from cases.states import State
from cases.transitions import apply_transition
from cases.workflow import ensure_not_expired, is_subject, lock_case, stage_after_approval

from .errors import ApprovalError
from .models import Approval
from .selectors import Decisions, decisions_on, valid_approvals


def _ensure_may_decide(
    case: RecoveryCase,
    approver: User,
    reason: str,
    policy: PinnedPolicy,
    decisions: Decisions,
) -> None:
    """Separation of duties (OWASP ASVS 2.3.5, DESIGN.md "Approvals")."""
    if case.state != State.AWAITING_APPROVAL:
        raise ApprovalError(
            f"{case.reference} is {case.get_state_display().lower()}, not awaiting approval.",
            code="not_awaiting_approval",
        )
    if is_subject(approver, case.subject):
        raise ApprovalError("Nobody may approve the recovery of their own account.", code="self")
    if approver.pk == case.opened_by_id:
        raise ApprovalError("The person who opened a case may not approve it.", code="opener")
    if approver.pk in (case.verified_by_id, case.assigned_agent_id):
        raise ApprovalError("The agent who verified a case may not approve it.", code="verifier")
    if not roles.can_approve(approver, case.queue, policy.approver_role):
        raise ApprovalError(
            f"Approvals in {case.queue} for this tier come from a "
            f"{policy.approver_role.replace('_', ' ')} holding approval rights on the queue.",
            code="not_approver",
        )
    if approver.pk in decisions.deciders:
        raise ApprovalError(
            f"You have already decided on {case.reference}; N approvals need N people.",
            code="already_decided",
        )
    if not reason.strip():
        raise ApprovalError("Give a reason for the decision.", code="reason_required")


def _record(
    case: RecoveryCase, approver, decision: str, reason: str, now, policy: PinnedPolicy
) -> Approval:
    assert case.verified_by_id is not None  # awaiting approval implies verified
    return Approval.objects.create(
        case=case,
        approver=approver,
        decision=decision,
        reason=reason,
        decided_at=now,
        valid_until=now + policy.approval_deadline,
        case_opened_by_id=case.opened_by_id,
        case_verified_by_id=case.verified_by_id,
    )


def _still_entitled(case: RecoveryCase, policy: PinnedPolicy, now, *, exclude: Approval) -> int:
    """Earlier approvals count only while their approver still holds the role on the queue:
    a manager removed or deactivated since approving no longer vouches for the case.
    """
    earlier = valid_approvals(case=case, now=now).exclude(pk=exclude.pk)
    return sum(
        1 for a in earlier if roles.can_approve(a.approver, case.queue, policy.approver_role)
    )


def approval_grant(*, case: RecoveryCase, approver: User, reason: str) -> Approval:
    """Record one approval; the N-th distinct valid approval moves the case on."""
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        policy = pinned_policy(case)
        decisions = decisions_on(case=case, now=now)
        _ensure_may_decide(case, approver, reason, policy, decisions)
        ensure_not_expired(case, now)
        approval = _record(case, approver, Approval.Decision.APPROVED, reason, now, policy)
        granted = decisions.valid_approvals + 1
        if granted >= policy.approvals_required:
            granted = 1 + _still_entitled(case, policy, now, exclude=approval)
        detail = {"approval_id": approval.pk, "approvals": granted, "of": policy.approvals_required}
        if granted >= policy.approvals_required:
            case.approved_at = now
            target, fields = stage_after_approval(case, policy, now)
            apply_transition(
                case,
                "approve",
                target=target,
                actor=approver,
                update_fields=("approved_at", *fields),
                detail=detail,
            )
        else:
            audit_record(actor=approver, action="approval.grant", case=case, detail=detail)
    return approval


def approval_deny(*, case: RecoveryCase, approver: User, reason: str) -> Approval:
    """One deny rejects the case."""
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        policy = pinned_policy(case)
        _ensure_may_decide(case, approver, reason, policy, decisions_on(case=case, now=now))
        ensure_not_expired(case, now)
        approval = _record(case, approver, Approval.Decision.DENIED, reason, now, policy)
        case.closing_reason = reason
        apply_transition(
            case,
            "reject",
            target=State.REJECTED,
            actor=approver,
            update_fields=("closing_reason",),
            detail={"approval_id": approval.pk},
        )
    return approval
