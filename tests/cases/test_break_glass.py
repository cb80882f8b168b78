"""Break-glass: only a security reviewer, with a reason from the list and a justification in
words, makes a case ready without the approvals and the hold, and never without the policy's
minimum verification. Every use opens its post-event review in the same transaction. Who may
not break glass on a case they took part in: tests/cases/test_reviewer_oversight.py; the
review itself: tests/cases/test_break_glass_reviews.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from cases import services as case_services
from cases.models import BreakGlassReason, BreakGlassReview, PolicyRule
from cases.policy import pinned_policy
from cases.services import case_break_glass
from cases.states import State
from directory.models import RiskTier
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    claimed_case,
    cooling_off_case,
    executed,
    refused,
)

REASON = BreakGlassReason.APPROVERS_UNREACHABLE


@pytest.mark.parametrize("who", ["agent", "manager"])
def test_only_a_security_reviewer_may_break_glass(who, clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    actor = {"agent": agent, "manager": manager}[who]
    with refused(case, code="not_reviewer"):
        case_break_glass(case=case, actor=actor, reason=REASON, justification=JUSTIFICATION)
    assert not BreakGlassReview.objects.exists()


@pytest.mark.parametrize(
    "justification",
    ["   CEO locked out now.   ", "a" * 40, "locked locked locked locked locked out"],
)
def test_break_glass_needs_a_justification_in_words(justification, clock, agent, security_reviewer):
    """At least 20 characters and five different words: one letter repeated is no reason."""
    case = awaiting_approval_case(agent=agent)
    with refused(case, code="justification_required"):
        case_break_glass(
            case=case, actor=security_reviewer, reason=REASON, justification=justification
        )
    assert not BreakGlassReview.objects.exists()


@pytest.mark.parametrize("reason", ["", "   ", "because", "INCIDENT_RESPONSE", "justified"])
def test_break_glass_needs_a_reason_from_the_list(reason, clock, agent, security_reviewer):
    case = awaiting_approval_case(agent=agent)
    with refused(case, code="break_glass_reason") as excinfo:
        case_break_glass(
            case=case, actor=security_reviewer, reason=reason, justification=JUSTIFICATION
        )
    assert "from the list" in str(excinfo.value)
    assert BreakGlassReason.INCIDENT_RESPONSE.label in str(excinfo.value)
    assert not BreakGlassReview.objects.exists()


def test_break_glass_never_skips_the_policys_minimum_verification(clock, agent, security_reviewer):
    case = claimed_case(agent=agent)
    with refused(case, code="insufficient_evidence"):
        case_break_glass(
            case=case, actor=security_reviewer, reason=REASON, justification=JUSTIFICATION
        )
    assert not BreakGlassReview.objects.exists()


def test_break_glass_skips_the_hold_and_the_case_can_be_executed(
    clock, agent, manager, other_manager, security_reviewer
):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    case = case_break_glass(
        case=case, actor=security_reviewer, reason=REASON, justification=JUSTIFICATION
    )
    assert case.state == State.READY
    assert timezone.now() < case.hold_until
    assert executed(case, agent).state == State.COMPLETED


@pytest.mark.parametrize("reason", BreakGlassReason.values)
def test_every_listed_reason_is_stored_on_the_case_and_its_review(
    reason, clock, agent, security_reviewer
):
    case = awaiting_approval_case(agent=agent)
    case = case_break_glass(
        case=case, actor=security_reviewer, reason=reason, justification=JUSTIFICATION
    )
    case.refresh_from_db()
    review = BreakGlassReview.objects.get(case=case)
    assert (case.break_glass_reason, review.reason) == (reason, reason)


def test_break_glass_opens_a_review_due_within_the_pinned_policys_window(
    clock, agent, security_reviewer
):
    case = awaiting_approval_case(agent=agent)
    window = pinned_policy(case).break_glass_review_window
    assert window == timedelta(hours=24)
    clock.shift(timedelta(minutes=7))
    case = case_break_glass(
        case=case, actor=security_reviewer, reason=REASON, justification=JUSTIFICATION
    )
    review = BreakGlassReview.objects.get(case=case)
    assert review.used_by == security_reviewer
    assert review.opened_at == case.ready_at == timezone.now()
    assert review.due_at == review.opened_at + window
    assert review.is_open
    assert (review.reviewer, review.outcome, review.findings, review.escalated_at) == (
        None,
        "",
        "",
        None,
    )


def test_the_review_window_is_the_one_pinned_when_the_case_opened(clock, agent, security_reviewer):
    """An edit of the policy after opening never changes an open case, its review window too."""
    case = awaiting_approval_case(agent=agent, tier=RiskTier.PRIVILEGED)
    PolicyRule.objects.filter(pk=case.policy_rule_id).update(
        break_glass_review_window=timedelta(hours=2)
    )
    case_break_glass(case=case, actor=security_reviewer, reason=REASON, justification=JUSTIFICATION)
    review = BreakGlassReview.objects.get(case=case)
    assert review.due_at - review.opened_at == timedelta(hours=24)


def test_a_snapshot_from_before_the_window_existed_reads_the_24_hours_in_force_then(
    clock, agent, security_reviewer
):
    case = awaiting_approval_case(agent=agent)
    snapshot = dict(case.policy_snapshot)
    del snapshot["break_glass_review_window"]
    type(case).objects.filter(pk=case.pk).update(policy_snapshot=snapshot)
    case_break_glass(case=case, actor=security_reviewer, reason=REASON, justification=JUSTIFICATION)
    review = BreakGlassReview.objects.get(case=case)
    assert review.due_at - review.opened_at == timedelta(hours=24)


def test_the_one_break_glass_event_names_the_reason_and_the_review(clock, agent, security_reviewer):
    case = awaiting_approval_case(agent=agent)
    before = AuditEvent.objects.count()
    case_break_glass(
        case=case,
        actor=security_reviewer,
        reason=BreakGlassReason.INCIDENT_RESPONSE,
        justification=JUSTIFICATION,
    )
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(case=case, action="case.break_glass")
    review = BreakGlassReview.objects.get(case=case)
    assert event.actor == security_reviewer
    assert event.detail["reason"] == "incident_response"
    assert event.detail["justification"] == JUSTIFICATION
    assert event.detail["review_id"] == review.pk
    assert event.detail["review_due_at"].startswith(review.due_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_the_review_is_opened_in_the_break_glass_transaction(
    clock, agent, security_reviewer, monkeypatch
):
    """When the move fails after the review row was written, neither survives."""
    case = awaiting_approval_case(agent=agent)

    def fails(*args, **kwargs):
        assert BreakGlassReview.objects.filter(case=case).exists()  # written, not committed
        raise RuntimeError("the database went away")

    monkeypatch.setattr(case_services, "apply_transition", fails)
    with pytest.raises(RuntimeError):
        case_break_glass(
            case=case, actor=security_reviewer, reason=REASON, justification=JUSTIFICATION
        )
    assert not BreakGlassReview.objects.exists()
    case.refresh_from_db()
    assert (case.state, case.break_glass_by_id, case.break_glass_reason) == (
        State.AWAITING_APPROVAL,
        None,
        "",
    )
