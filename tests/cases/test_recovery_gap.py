"""The recovery gap: a second completed recovery of the same kind within the policy's gap is
refused at verify and at execute (break-glass does not skip it) unless a security reviewer
releases the gap, once; cases that did not complete, and other kinds, do not start it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.services import approval_grant
from cases.models import RecoveryCase
from cases.services import case_break_glass, case_execute, case_gap_release, case_verify
from cases.states import Kind, State
from directory.models import Identity, RiskTier
from tests.cases.factories import make_security_reviewer
from tests.directory.factories import IdentityFactory
from tests.helpers import (
    JUSTIFICATION,
    cancelled_case,
    claimed_case,
    completed_case,
    end_hold,
    executed,
    expired_case,
    pass_totp,
    refused,
    rejected_case,
    verified_case_for,
)


def _completed_contractor_reset(*, subject, agent, manager, clock) -> RecoveryCase:
    case = verified_case_for(agent=agent, subject=subject)
    approval_grant(case=case, approver=manager, reason="Spoke to the vendor manager")
    case.refresh_from_db()
    case = end_hold(case, clock)
    return executed(case, agent)


def test_a_second_contractor_reset_within_the_gap_is_refused_at_verify(clock, agent, manager):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    _completed_contractor_reset(subject=subject, agent=agent, manager=manager, clock=clock)
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    with refused(second, code="recovery_gap"):
        case_verify(case=second, actor=agent)


def test_a_gap_release_lets_the_second_reset_go_on(clock, agent, manager, security_reviewer):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    _completed_contractor_reset(subject=subject, agent=agent, manager=manager, clock=clock)
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    case_gap_release(case=second, actor=security_reviewer, reason="Vendor rotated laptops")
    assert case_verify(case=second, actor=agent).state == State.AWAITING_APPROVAL


def test_the_gap_rule_lapses_once_the_gap_has_passed(clock, agent, manager):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    first = _completed_contractor_reset(subject=subject, agent=agent, manager=manager, clock=clock)
    clock.shift(first.closed_at + timedelta(days=1) - timezone.now())
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    assert case_verify(case=second, actor=agent).state == State.AWAITING_APPROVAL


def test_a_completed_recovery_of_another_kind_does_not_start_the_gap(clock, agent):
    subject = IdentityFactory(risk_tier=RiskTier.STANDARD)
    completed_case(agent=agent, subject=subject)  # a password reset, just now
    rebind = claimed_case(agent=agent, subject=subject, kind=Kind.MFA_REBIND)
    pass_totp(rebind, agent)
    # A standard MFA re-bind has a one-day gap: only an earlier re-bind may trigger it.
    assert case_verify(case=rebind, actor=agent).state == State.AWAITING_APPROVAL


def _unfrozen(case: RecoveryCase) -> RecoveryCase:
    """A dispute also freezes the identity's recoveries (tests/cases/test_disputes.py); that
    is not what these tests are about."""
    Identity.objects.filter(pk=case.subject_id).update(recovery_frozen_until=None)
    return case


EARLIER_UNSUCCESSFUL = {
    "rejected": lambda agent, clock, subject: rejected_case(agent=agent, subject=subject),
    "expired": lambda agent, clock, subject: expired_case(
        agent=agent, clock=clock, subject=subject
    ),
    "cancelled": lambda agent, clock, subject: _unfrozen(
        cancelled_case(agent=agent, subject=subject)
    ),
}


@pytest.mark.parametrize("earlier", EARLIER_UNSUCCESSFUL)
def test_an_earlier_case_that_did_not_complete_does_not_start_the_gap(earlier, clock, agent):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)  # password reset gap: one day
    first = EARLIER_UNSUCCESSFUL[earlier](agent, clock, subject)
    assert first.closed_at == timezone.now()
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)
    assert case_verify(case=second, actor=agent).state == State.AWAITING_APPROVAL


def test_a_break_glassed_recovery_inside_the_gap_is_refused_at_execute(
    clock, agent, manager, security_reviewer
):
    subject = IdentityFactory(risk_tier=RiskTier.CONTRACTOR)
    first = verified_case_for(agent=agent, subject=subject)
    approval_grant(case=first, approver=manager, reason="Spoke to the vendor manager")
    first.refresh_from_db()
    executed(end_hold(first, clock), agent)
    second = claimed_case(agent=agent, subject=subject)
    pass_totp(second, agent)  # break-glass never skips the minimum verification
    second = case_break_glass(
        case=second,
        actor=security_reviewer,
        reason="approvers_unreachable",
        justification=JUSTIFICATION,
    )
    assert second.state == State.READY
    with refused(second, code="recovery_gap"):
        case_execute(case=second, actor=agent)


def test_a_case_cannot_be_gap_released_twice(clock, agent, security_reviewer):
    case = claimed_case(agent=agent)
    case_gap_release(case=case, actor=security_reviewer, reason="Second reset agreed")
    second_reviewer = make_security_reviewer(username="security.hank")
    with refused(case, code="already_released"):
        case_gap_release(case=case, actor=second_reviewer, reason="Releasing it again")
