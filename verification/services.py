from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from cases.policy import pinned_policy
from cases.states import Kind, State
from cases.transitions import apply_transition
from cases.workflow import ensure_not_expired, ensure_working_agent, lock_case
from directory.models import Authenticator, Identity

from .errors import VerificationError
from .methods import TOTP
from .models import Evidence
from .selectors import evidence_holder_id
from .totp import totp_match


def _ensure_independent(case, authenticator: Authenticator) -> None:
    """Evidence must not lean on what is being recovered (DESIGN.md "Verification")."""
    if case.kind == Kind.MFA_REBIND and case.replaced_authenticator_id in (None, authenticator.pk):
        raise VerificationError(
            "The authenticator being replaced cannot prove who the caller is; use another method.",
            code="not_independent",
        )


def _failures_for_identity(case, now) -> int:
    """Failures count per person, not per case: rejecting a case, or letting it expire, and
    opening a new one does not reset the count (NIST SP 800-63B-4 §3.2.2 rate limiting).
    This case's count restarts when a security reviewer releases it.
    """
    window_start = now - settings.VERIFICATION_FAILURE_WINDOW
    elsewhere = (
        Evidence.objects.filter(
            case__subject_id=case.subject_id,
            outcome=Evidence.Outcome.FAILED,
            checked_at__gte=window_start,
        )
        .exclude(case_id=case.pk)
        .count()
    )
    return case.failed_checks + elsewhere


def evidence_check_totp(*, case, authenticator: Authenticator, token: str, actor: User) -> Evidence:
    """Check a code the subject reads from an enrolled TOTP authenticator.

    django-otp's device shape: the authenticator row is locked while checking, a code at or
    below the last accepted time step is a replay, and every failure counts towards escalation
    (NIST SP 800-63B-4 §3.2.2 rate limiting). A failed check is recorded, not raised: it must
    survive. Refusals (wrong state, wrong agent, bad input) raise and write nothing.
    """
    token = (token or "").strip().replace(" ", "")
    with transaction.atomic():
        case = lock_case(case.pk)
        now = timezone.now()
        if case.state != State.VERIFYING:
            raise VerificationError(
                f"{case.reference} is not being verified.", code="not_verifying"
            )
        if case.assigned_agent_id != actor.pk:
            raise VerificationError(
                f"Only the agent who claimed {case.reference} collects its evidence.",
                code="not_assigned",
            )
        ensure_working_agent(case, actor)
        ensure_not_expired(case, now)
        if TOTP.code not in pinned_policy(case).allowed_methods:
            raise VerificationError(
                "This case's policy does not accept TOTP codes.", code="method_not_allowed"
            )
        # The person's row, then the authenticator's (the order case_execute uses too):
        # failures count per person across cases, so two checks on two cases of one person
        # must not both read the count before either has added to it.
        Identity.objects.select_for_update().values_list("pk", flat=True).get(pk=case.subject_id)
        holder_id = evidence_holder_id(case.subject)
        authenticator = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        if authenticator.identity_id != holder_id or not authenticator.is_active:
            whose = "its owner" if holder_id != case.subject_id else "this subject"
            raise VerificationError(
                f"That is not an active authenticator of {whose}.", code="bad_authenticator"
            )
        _ensure_independent(case, authenticator)
        if not (token.isascii() and token.isdigit()) or len(token) != authenticator.digits:
            raise VerificationError(
                f"A code from this authenticator is {authenticator.digits} digits.",
                code="malformed_code",
            )

        step = totp_match(authenticator, token, at=now)
        passed = step is not None
        evidence = Evidence.objects.create(
            case=case,
            method=TOTP.code,
            factor=TOTP.factor,
            outcome=Evidence.Outcome.PASSED if passed else Evidence.Outcome.FAILED,
            score=TOTP.strength if passed else 0,
            authenticator=authenticator,
            checked_by=actor,
            checked_at=now,
        )
        detail = {"evidence_id": evidence.pk, "method": TOTP.code, "outcome": evidence.outcome}
        if step is not None:
            authenticator.last_t = step
            authenticator.save(update_fields=["last_t"])
            audit_record(actor=actor, action="evidence.passed", case=case, detail=detail)
            return evidence

        case.failed_checks += 1
        if _failures_for_identity(case, now) >= settings.VERIFICATION_MAX_FAILURES:
            # Escalated cases wait for a security reviewer: no deadline lets them lapse
            # quietly into a fresh case.
            case.expires_at = None
            case.escalated_at = now
            apply_transition(
                case,
                "escalate",
                target=State.ESCALATED,
                actor=actor,
                update_fields=("failed_checks", "escalated_at", "expires_at"),
                detail=detail,
            )
        else:
            case.save(update_fields=["failed_checks"])
            audit_record(actor=actor, action="evidence.failed", case=case, detail=detail)
    return evidence
