"""The shared case builders (``demo.builders``): ``case_in`` reaches every state through the real
services, and refuses, before writing anything, a state the policy never passes through."""

import pytest

from cases.models import RecoveryCase
from cases.states import Kind, State
from demo import builders
from directory.models import AccountState, Authenticator, Identity, RiskTier
from verification.models import Evidence


@pytest.mark.parametrize("state", State.values)
def test_case_in_reaches_every_state_of_a_privileged_mfa_rebind(
    state, clock, agent, other_agent, manager, other_manager
):
    """Two approvals and a 24-hour hold: the longest way through the lifecycle."""
    case = builders.case_in(
        state,
        agent=agent,
        opener=other_agent,
        kind=Kind.MFA_REBIND,
        tier=RiskTier.PRIVILEGED,
        approvers=[manager, other_manager] if state != State.AWAITING_APPROVAL else [manager],
        clock=clock,
    )
    case.refresh_from_db()
    assert case.state == state
    assert case.subject.risk_tier == RiskTier.PRIVILEGED


def test_a_rebind_names_an_authenticator_to_replace_and_is_proved_by_another(clock, agent, manager):
    case = builders.case_in(
        State.READY, agent=agent, kind=Kind.MFA_REBIND, approvers=[manager], clock=clock
    )
    evidence = Evidence.objects.get(case=case)
    assert case.replaced_authenticator.identity_id == case.subject_id
    assert evidence.authenticator_id != case.replaced_authenticator_id


def test_a_service_identity_is_proved_through_its_owners_authenticator(
    clock, agent, security_reviewer
):
    case = builders.case_in(
        State.COOLING_OFF,
        agent=agent,
        tier=RiskTier.SERVICE,
        approvers=[security_reviewer, *_more_reviewers(1)],
    )
    evidence = Evidence.objects.get(case=case)
    assert evidence.answered_by_id == case.subject.owner_id
    assert not Authenticator.objects.filter(identity=case.subject).exists()


def test_a_reactivation_subject_is_a_disabled_account(clock, agent, manager):
    case = builders.case_in(
        State.COMPLETED, agent=agent, kind=Kind.REACTIVATION, approvers=[manager]
    )
    case.subject.refresh_from_db()
    assert case.subject.account_state == AccountState.ACTIVE  # enabled by the recovery


def test_a_reviewer_breaks_glass_instead_of_approvals_and_the_hold(clock, agent, security_reviewer):
    case = builders.case_in(
        State.READY, agent=agent, tier=RiskTier.PRIVILEGED, reviewer=security_reviewer
    )
    assert (case.state, case.break_glass_by_id) == (State.READY, security_reviewer.pk)


UNREACHABLE = {
    "no approval asked": {"state": State.AWAITING_APPROVAL, "tier": RiskTier.STANDARD},
    "no hold": {"state": State.COOLING_OFF, "tier": RiskTier.STANDARD},
    "approvals missing": {"state": State.READY, "tier": RiskTier.PRIVILEGED},
    "no clock to end the hold": {"state": State.READY, "kind": Kind.MFA_REBIND},
    "no clock to expire": {"state": State.EXPIRED},
    "re-bind replacing all": {
        "state": State.READY,
        "kind": Kind.MFA_REBIND,
        "replaced_authenticator": None,
    },
    "not a state": {"state": "teleported"},
}


@pytest.mark.parametrize("why", UNREACHABLE)
def test_a_state_the_policy_never_passes_is_a_clear_error_and_writes_nothing(why, agent, manager):
    asked = UNREACHABLE[why]
    if asked.get("kind") == Kind.MFA_REBIND and "replaced_authenticator" not in asked:
        asked = {**asked, "approvers": [manager]}  # a standard re-bind: one approval, one hour
    before = (Identity.objects.count(), RecoveryCase.objects.count())
    with pytest.raises(builders.BuilderError) as excinfo:
        builders.case_in(agent=agent, **asked)
    assert str(excinfo.value).endswith(".")
    assert (Identity.objects.count(), RecoveryCase.objects.count()) == before


def _more_reviewers(n):
    from tests.cases.factories import make_security_reviewer

    return [make_security_reviewer(username=f"security.extra{i}") for i in range(n)]
