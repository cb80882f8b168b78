"""Drive cases through the real services to the state a test needs."""

from datetime import UTC

from django.utils import timezone

from approvals.services import approval_grant
from cases.services import case_claim, case_open, case_verify
from cases.states import Kind
from directory.models import Identity, RiskTier
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from verification.selectors import evidence_holder_id
from verification.services import evidence_check_totp
from verification.totp import totp_code_at


def open_case(*, opener, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD, subject=None, **kw):
    subject = subject or IdentityFactory(risk_tier=tier)
    return case_open(actor=opener, subject=subject, kind=kind, intake_channel="phone", **kw)


def current_code(authenticator) -> str:
    return totp_code_at(authenticator, at=timezone.now().astimezone(UTC))


def verified_case(*, agent, opener=None, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD):
    """A case claimed by ``agent`` with passing TOTP evidence, verified."""
    subject = IdentityFactory(risk_tier=tier)
    # A service identity is recovered through its owner: the owner reads the code.
    holder = Identity.objects.get(pk=evidence_holder_id(subject))
    authenticator = AuthenticatorFactory(identity=holder)
    extra = {}
    if kind == Kind.MFA_REBIND:
        extra["replaced_authenticator"] = AuthenticatorFactory(identity=subject, label="lost")
    case = open_case(opener=opener or agent, kind=kind, subject=subject, **extra)
    case_claim(case=case, agent=agent)
    evidence_check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
    )
    return case_verify(case=case, actor=agent)


def approved_case(*, agent, approvers, **kw):
    case = verified_case(agent=agent, **kw)
    for approver in approvers:
        approval_grant(case=case, approver=approver, reason="Checked the evidence")
    case.refresh_from_db()
    return case
