from django.contrib.auth.models import User
from django.db import transaction

from audit.actions import Action
from audit.services import audit_record
from cases import roles
from cases.models import RecoveryCase
from cases.policy import PinnedPolicy, pinned_policy
from cases.states import State
from cases.transitions import apply_transition, ensure_allowed
from cases.workflow import lock_case, stage_after_approval

from .errors import ApprovalError
from .models import Approval
from .selectors import decisions_on, valid_approvals


def _require_reason(reason: str) -> None:
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
    """Record one approval; the N-th distinct valid approval moves the case on.

    Separation of duties (OWASP ASVS 2.3.5) is the table's ``approver`` rule
    (``cases.access.approver_of_case``); the database trigger holds it for every other writer.
    """
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "approve", approver, now)
        _require_reason(reason)
        policy = pinned_policy(case)
        decisions = decisions_on(case=case, now=now)
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
                now=now,
                update_fields=("approved_at", *fields),
                detail=detail,
            )
        else:
            audit_record(
                actor=approver, action=Action.APPROVAL_GRANT, case=case, detail=detail, at=now
            )
    return approval


def approval_deny(*, case: RecoveryCase, approver: User, reason: str) -> Approval:
    """One deny rejects the case; the reason is written into the audit event."""
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "deny", approver, now)
        _require_reason(reason)
        approval = _record(
            case, approver, Approval.Decision.DENIED, reason, now, pinned_policy(case)
        )
        case.closing_reason = reason
        apply_transition(
            case,
            "deny",
            target=State.REJECTED,
            actor=approver,
            now=now,
            update_fields=("closing_reason",),
            detail={"approval_id": approval.pk, "reason": reason},
        )
    return approval
