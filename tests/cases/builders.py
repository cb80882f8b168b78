"""Drive cases through the real services to the state a test needs."""

from approvals.services import approval_grant
from cases.services import case_claim, case_open, case_verify
from cases.states import Kind
from directory.models import AccountState, Identity, RiskTier
from recovery_desk import clock
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from verification.selectors import evidence_holder_id
from verification.services import evidence_check
from verification.totp import totp_code_at


def new_subject(*, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD) -> Identity:
    """Someone who may need this kind of recovery: a reactivation is of a disabled account."""
    state = AccountState.DISABLED if kind == Kind.REACTIVATION else AccountState.ACTIVE
    return IdentityFactory(risk_tier=tier, account_state=state)


def open_case(*, opener, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD, subject=None, **kw):
    subject = subject or new_subject(kind=kind, tier=tier)
    return case_open(actor=opener, subject=subject, kind=kind, intake_channel="phone", **kw)


def current_code(authenticator) -> str:
    return totp_code_at(authenticator, at=clock.now())


def check_totp(*, case, authenticator, token: str, actor):
    """The one evidence service, with the TOTP method's answer."""
    return evidence_check(
        case=case,
        method="totp",
        answer={"authenticator": authenticator.pk, "code": token},
        actor=actor,
    )


def verified_case(*, agent, opener=None, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD):
    """A case claimed by ``agent`` with passing TOTP evidence, verified."""
    subject = new_subject(kind=kind, tier=tier)
    # A service identity is recovered through its owner: the owner reads the code.
    holder = Identity.objects.get(pk=evidence_holder_id(subject))
    authenticator = AuthenticatorFactory(identity=holder)
    extra = {}
    if kind == Kind.MFA_REBIND:
        extra["replaced_authenticator"] = AuthenticatorFactory(identity=subject, label="lost")
    case = open_case(opener=opener or agent, kind=kind, subject=subject, **extra)
    case_claim(case=case, agent=agent)
    check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
    )
    return case_verify(case=case, actor=agent)


def approved_case(*, agent, approvers, **kw):
    case = verified_case(agent=agent, **kw)
    for approver in approvers:
        approval_grant(case=case, approver=approver, reason="Checked the evidence")
    case.refresh_from_db()
    return case
