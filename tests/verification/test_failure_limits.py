"""Failure limits: failed evidence checks count per subject, per person who answers and per
authenticator, across cases, within the policy's window; reaching the policy's limit
escalates the case to security (NIST SP 800-63B-4 §3.2.2 rate limiting)."""

import pytest

from audit.models import AuditEvent
from cases.models import PolicyRule
from cases.states import Kind, State
from directory.models import AccountState, RiskTier
from tests.cases.builders import check_totp, current_code, open_case
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import claimed_case, refused, wrong_code

pytestmark = pytest.mark.django_db


def _fail(case, authenticator, agent):
    return check_totp(
        case=case, authenticator=authenticator, token=wrong_code(authenticator), actor=agent
    )


def _state(case) -> str:
    case.refresh_from_db()
    return case.state


def test_guesses_spread_over_an_owner_and_their_service_identities_escalate(clock, agent):
    """Six wrong codes over an owner's own case and two of their service identities used to
    escalate nothing (each subject stayed under the limit); the owner answers all three."""
    owner = IdentityFactory()
    phone = AuthenticatorFactory(identity=owner)
    own = claimed_case(agent=agent, subject=owner)
    services = [
        claimed_case(agent=agent, subject=IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner))
        for _ in range(2)
    ]
    _fail(own, phone, agent)
    _fail(services[0], phone, agent)
    assert (_state(own), _state(services[0])) == (State.VERIFYING, State.VERIFYING)

    _fail(services[1], phone, agent)

    assert _state(services[1]) == State.ESCALATED
    event = AuditEvent.objects.get(case=services[1], action="case.escalate")
    assert event.detail["failures"] == {"subject": 1, "holder": 3, "authenticator": 3}


def test_the_limit_is_the_pinned_policys(clock, agent):
    PolicyRule.objects.filter(kind=Kind.PASSWORD_RESET).update(max_failures=5)
    case = claimed_case(agent=agent)
    phone = AuthenticatorFactory(identity=case.subject)
    for _ in range(4):
        _fail(case, phone, agent)
    assert _state(case) == State.VERIFYING
    _fail(case, phone, agent)
    assert _state(case) == State.ESCALATED


def test_an_inactive_owner_cannot_vouch_for_a_service_identity(clock, agent):
    owner = IdentityFactory(account_state=AccountState.DISABLED)
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    witness = open_case(opener=agent)
    with refused(witness, code="owner_inactive"):
        open_case(opener=agent, subject=service)


def test_an_owner_disabled_after_opening_stops_the_evidence(clock, agent):
    owner = IdentityFactory()
    phone = AuthenticatorFactory(identity=owner)
    case = claimed_case(
        agent=agent, subject=IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    )
    owner.account_state = AccountState.DISABLED
    owner.save(update_fields=["account_state"])
    with refused(case, code="owner_inactive"):
        check_totp(case=case, authenticator=phone, token=current_code(phone), actor=agent)
