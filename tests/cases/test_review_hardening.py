"""Abuse paths found in review: each one is closed and stays closed."""

from datetime import timedelta

import pytest

from approvals.services import approval_grant
from cases import roles
from cases.errors import CaseError, PermissionRefused
from cases.policy import pinned_policy
from cases.services import (
    case_break_glass,
    case_claim,
    case_open,
    case_reject,
    case_release,
)
from cases.states import Kind, State
from cases.sweep import case_sweep_due
from directory.models import RiskTier
from tests.cases.builders import check_totp, open_case
from tests.cases.factories import make_agent, make_manager
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import (
    awaiting_approval_case,
    claimed_case,
    escalated_case,
    fail_totp,
    give_role,
    nothing_changed,
)
from verification.errors import VerificationError

pytestmark = pytest.mark.django_db


def test_failures_on_a_rejected_case_still_count_towards_escalation(clock, agent):
    first = claimed_case(agent=agent)
    fail_totp(first, agent, times=pinned_policy(first).max_failures - 1)
    case_reject(case=first, actor=agent, reason="Caller hung up")
    second = case_claim(case=open_case(opener=agent, subject=first.subject), agent=agent)
    fail_totp(second, agent, times=1)
    second.refresh_from_db()
    assert second.state == State.ESCALATED


def test_failures_older_than_the_window_do_not_count(clock, agent):
    first = claimed_case(agent=agent)
    fail_totp(first, agent, times=pinned_policy(first).max_failures - 1)
    case_reject(case=first, actor=agent, reason="Caller hung up")
    clock.shift(pinned_policy(first).failure_window + timedelta(minutes=1))
    second = case_claim(case=open_case(opener=agent, subject=first.subject), agent=agent)
    fail_totp(second, agent, times=1)
    second.refresh_from_db()
    assert second.state == State.VERIFYING


def test_an_escalated_case_waits_for_security_instead_of_expiring(clock, agent):
    case = escalated_case(agent=agent)
    assert case.expires_at is None
    clock.shift(timedelta(days=30))
    case_sweep_due(batch_size=100)
    case.refresh_from_db()
    assert case.state == State.ESCALATED


@pytest.mark.parametrize("token", ["١٢٣٤٥٦", "12345²", "１２３４５６"])
def test_non_ascii_digits_are_refused_as_malformed(clock, agent, token):
    case = claimed_case(agent=agent)
    authenticator = AuthenticatorFactory(identity=case.subject)
    with nothing_changed(case), pytest.raises(VerificationError) as refused:
        check_totp(case=case, authenticator=authenticator, token=token, actor=agent)
    assert refused.value.code == "malformed_code"


@pytest.fixture
def agent_and_reviewer(db):
    """One person holding both roles: allowed, but never on the same case."""
    person = make_agent(username="dual.role")
    give_role(person, roles.SECURITY_REVIEWERS, roles.REVIEW)
    return person


def test_a_reviewer_cannot_break_glass_on_a_case_they_work(clock, agent_and_reviewer):
    case = claimed_case(agent=agent_and_reviewer, tier=RiskTier.PRIVILEGED)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_break_glass(
            case=case, actor=agent_and_reviewer, justification="Executive locked out before board"
        )


def test_a_reviewer_cannot_release_their_own_escalated_case(clock, agent_and_reviewer):
    case = escalated_case(agent=agent_and_reviewer)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_release(case=case, actor=agent_and_reviewer, reason="Looks fine to me")


def test_a_staff_member_whose_username_differs_only_in_case_is_the_subject(clock, db):
    alice = make_agent(username="alice")
    subject = IdentityFactory(username="Alice")
    case = open_case(opener=make_agent(username="bob"), subject=subject)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_claim(case=case, agent=alice)


def test_the_owner_of_a_service_identity_cannot_work_its_recovery(clock, db):
    owner_staff = make_agent(username="owner.olga")
    owner = IdentityFactory(username="olga", staff_user=owner_staff)
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    case = open_case(opener=make_agent(username="bob"), subject=service)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_claim(case=case, agent=owner_staff)
    with pytest.raises(PermissionRefused):
        case_open(
            actor=owner_staff,
            subject=IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner),
            kind=Kind.PASSWORD_RESET,
            intake_channel="phone",
        )


def test_an_approval_stops_counting_once_its_approver_loses_the_role(
    clock, agent, other_agent, manager, other_manager
):
    case = awaiting_approval_case(agent=agent, opener=other_agent)
    approval_grant(case=case, approver=manager, reason="Checked")
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    approval_grant(case=case, approver=other_manager, reason="Checked")
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    approval_grant(case=case, approver=make_manager(username="manager.fay"), reason="Checked")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF


def test_opening_a_case_of_an_unknown_kind_is_a_clear_refusal(agent):
    with pytest.raises(CaseError) as refused:
        case_open(actor=agent, subject=IdentityFactory(), kind="teleport", intake_channel="phone")
    assert refused.value.code == "unknown_kind"


def test_opening_a_case_from_an_unknown_channel_is_a_clear_refusal(agent):
    with pytest.raises(CaseError) as refused:
        case_open(
            actor=agent, subject=IdentityFactory(), kind=Kind.PASSWORD_RESET, intake_channel="fax"
        )
    assert refused.value.code == "unknown_channel"
