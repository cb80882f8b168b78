from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from audit.actions import Action
from audit.services import audit_record
from cases.models import RecoveryCase
from cases.policy import PinnedPolicy, pinned_policy
from cases.states import Kind, State
from cases.transitions import apply_transition, ensure_allowed
from cases.workflow import lock_case
from directory.models import Identity
from recovery_desk import clock
from recovery_desk.actors import SYSTEM

from .errors import VerificationError
from .methods import KNOWLEDGE_REFUSED, METHODS, REFUSED_METHODS, Attempt, EvidenceMethod
from .methods.recovery_codes import hash_code, new_code
from .models import Evidence, RecoveryCode
from .selectors import evidence_holder_id


def evidence_method(code: str) -> EvidenceMethod:
    if code in REFUSED_METHODS:
        raise VerificationError(KNOWLEDGE_REFUSED, code="knowledge_refused")
    try:
        return METHODS[code]
    except KeyError:
        raise VerificationError(
            f"'{code}' is not an evidence method the system checks.", code="unknown_method"
        ) from None


def _ensure_independent(case: RecoveryCase, attempt: Attempt) -> None:
    """Evidence must not lean on what is being recovered (docs/design.md "Evidence"): an MFA
    re-bind is never proved with the authenticator being replaced (any, when none is named)."""
    if (
        case.kind == Kind.MFA_REBIND
        and attempt.authenticator is not None
        and case.replaced_authenticator_id in (None, attempt.authenticator.pk)
    ):
        raise VerificationError(
            "The authenticator being replaced cannot prove who the caller is; use another method.",
            code="not_independent",
        )


def _failure_counts(
    case: RecoveryCase, attempt: Attempt, policy: PinnedPolicy, now: datetime
) -> dict[str, int]:
    """Failures count per subject, per person who answers and per authenticator, across cases
    and within the policy's window (NIST SP 800-63B-4 §3.2.2 rate limiting): rejecting a case
    and opening a new one, or spreading guesses over an owner's service identities, does not
    reset them. This case's own count restarts when a security reviewer releases it.
    """
    recent = Evidence.objects.filter(
        outcome=Evidence.Outcome.FAILED, checked_at__gte=now - policy.failure_window
    ).exclude(case_id=case.pk)
    scopes = {
        "subject": Q(case__subject_id=case.subject_id),
        "holder": Q(answered_by_id=attempt.holder.pk),
    }
    if attempt.authenticator is not None:
        scopes["authenticator"] = Q(authenticator_id=attempt.authenticator.pk)
    return {name: case.failed_checks + recent.filter(q).count() for name, q in scopes.items()}


def evidence_check(
    *, case: RecoveryCase, method: str, answer: Mapping[str, Any], actor: User
) -> Evidence:
    """Check one piece of identity evidence with a method the system verifies itself.

    The one path for every method: the case row is locked and the table's ``check_evidence``
    rule checked on it (the assigned agent, while verifying, before the deadline); the person's
    row is locked before their failures are counted (two checks on two cases of one person at
    once both count); the method locks what it checks. A failed check is recorded, not raised:
    it must survive, and enough of them escalate the case. Refusals (wrong state, wrong agent,
    a method the policy does not allow, bad input) raise and write nothing.
    """
    plugin = evidence_method(method)
    with transaction.atomic():
        case, now = lock_case(case.pk)
        ensure_allowed(case, "check_evidence", actor, now)
        policy = pinned_policy(case)
        if refusal := plugin.is_allowed(case=case, policy=policy):
            raise VerificationError(refusal.message, code=refusal.code)
        # The subject's row, then the holder's (a service identity's owner), then the method's:
        # failures count per person, so two checks for one person must not both read the count
        # before either has added to it.
        holder_id = evidence_holder_id(case.subject)
        if holder_id != case.subject_id:
            Identity.objects.select_for_update().values_list("pk", flat=True).get(
                pk=case.subject_id
            )
        holder = Identity.objects.select_for_update().get(pk=holder_id)
        attempt = plugin.prepare(case=case, holder=holder, answer=answer)
        _ensure_independent(case, attempt)

        passed = plugin.verify(attempt, now=now)
        evidence = Evidence.objects.create(
            case=case,
            method=plugin.code,
            factor=plugin.factor,
            outcome=Evidence.Outcome.PASSED if passed else Evidence.Outcome.FAILED,
            score=plugin.strength if passed else 0,
            authenticator=attempt.authenticator,
            answered_by=holder,
            checked_by=actor,
            checked_at=now,
            detail=attempt.data.get("record", {}),
        )
        detail = {"evidence_id": evidence.pk, "method": plugin.code, "outcome": evidence.outcome}
        if passed:
            audit_record(
                actor=actor, action=Action.EVIDENCE_PASSED, case=case, detail=detail, at=now
            )
            return evidence

        case.failed_checks += 1
        counts = _failure_counts(case, attempt, policy, now)
        if max(counts.values()) >= policy.max_failures:
            # Escalated cases wait for a security reviewer: no deadline lets them lapse
            # quietly into a fresh case.
            case.expires_at = None
            case.escalated_at = now
            apply_transition(
                case,
                "escalate",
                target=State.ESCALATED,
                actor=SYSTEM,
                now=now,
                update_fields=("failed_checks", "escalated_at", "expires_at"),
                detail={**detail, "failures": counts, "checked_by": actor.get_username()},
            )
        else:
            case.save(update_fields=["failed_checks"])
            audit_record(
                actor=actor, action=Action.EVIDENCE_FAILED, case=case, detail=detail, at=now
            )
    return evidence


def evidence_refusal_record(*, case: RecoveryCase, method: str, actor: User) -> str:
    """Someone tried to record a refused method (knowledge questions) on ``case``: the attempt
    goes into the trail (``evidence.refused``) and never counts; the sentence to show is
    returned. Its own service, not ``evidence_check``: a refusal there raises and writes
    nothing, which would lose the attempt."""
    if method not in REFUSED_METHODS:
        raise VerificationError(
            f"Only a refused method is recorded this way, not '{method}'.", code="unknown_method"
        )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=Action.EVIDENCE_REFUSED,
            case=case,
            detail={"method": method, "refusal": "knowledge_refused"},
        )
    return KNOWLEDGE_REFUSED


def recovery_codes_issue(*, identity: Identity, count: int = 10, actor: Any = None) -> list[str]:
    """New saved recovery codes for ``identity``, returned in clear this once (only a salted
    hash is kept); they replace every earlier unused code. Used codes stay as the record of
    the cases they proved."""
    if not 1 <= count <= 20:
        raise VerificationError("Issue between 1 and 20 recovery codes.", code="bad_count")
    codes = [new_code() for _ in range(count)]
    hashes = [hash_code(code) for code in codes]  # slow on purpose: before any lock is taken
    with transaction.atomic():
        locked = Identity.objects.select_for_update().get(pk=identity.pk)
        RecoveryCode.objects.filter(identity=locked, used_at__isnull=True).delete()
        now = clock.now()
        RecoveryCode.objects.bulk_create(
            RecoveryCode(identity=locked, code_hash=code_hash, created_at=now)
            for code_hash in hashes
        )
        audit_record(
            actor=actor,
            action=Action.RECOVERY_CODES_ISSUE,
            identity=locked,
            detail={"count": count},
            at=now,
        )
    return codes
