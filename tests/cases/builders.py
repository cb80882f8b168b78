"""Drive cases through the real services to the state a test needs.

The steps are ``demo.builders``' (the one set the tests, the demo seed and the benchmark share);
what the tests add is that factory_boy makes the people and their authenticators.
"""

from cases.states import Kind
from demo import builders
from demo.builders import check_totp, current_code  # noqa: F401  (imported from here by tests)
from directory.models import AccountState, Identity, RiskTier
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from verification.selectors import evidence_holder_id


def new_subject(*, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD) -> Identity:
    """Someone who may need this kind of recovery: a reactivation is of a disabled account."""
    state = AccountState.DISABLED if kind == Kind.REACTIVATION else AccountState.ACTIVE
    return IdentityFactory(risk_tier=tier, account_state=state)


def open_case(*, opener, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD, subject=None, **kw):
    subject = subject or new_subject(kind=kind, tier=tier)
    return builders.open(opener, subject=subject, kind=kind, **kw)


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
    builders.claim(case, agent)
    builders.pass_evidence(case, agent, authenticator=authenticator)
    return builders.verify(case, agent)


def approved_case(*, agent, approvers, **kw):
    return builders.approve(verified_case(agent=agent, **kw), *approvers)
