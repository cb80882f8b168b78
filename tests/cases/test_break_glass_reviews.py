"""The post-event review of a break-glass (docs/design.md "Break-glass reviews"): another
security reviewer, who took no part in the case, closes it with an outcome and findings; the
sweep escalates a review still open past its due time, exactly once."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from approvals.services import approval_grant
from audit.models import AuditEvent
from cases import review_services, roles
from cases.models import BreakGlassReview, ReviewOutcome
from cases.review_services import review_close, review_escalate_overdue
from cases.services import case_flag_fraud, case_gap_release, case_release
from cases.states import State
from cases.sweep import case_sweep_due
from cases.tasks import sweep_due_cases
from demo import builders
from directory.models import RiskTier
from tests.cases.factories import make_agent, make_security_reviewer
from tests.conftest import clock_at
from tests.helpers import (
    awaiting_approval_case,
    case_in,
    claimed_case,
    give_role,
    pass_totp,
    refused,
)

FINDINGS = builders.FINDINGS
DAY = timedelta(hours=24)


@pytest.fixture
def second_reviewer(db):
    return make_security_reviewer(username="security.frank")


@pytest.fixture
def review(clock, agent, security_reviewer) -> BreakGlassReview:
    """security.erin broke glass on agent.alice's privileged case (no approvals, no hold)."""
    case = case_in(State.READY, agent=agent, tier=RiskTier.PRIVILEGED, reviewer=security_reviewer)
    return builders.review_of(case)


def _review_row(review):
    return BreakGlassReview.objects.filter(pk=review.pk).values().get()


@contextmanager
def review_refused(review, code):
    """Refused with ``code`` and a sentence; the review, the case and the trail unchanged."""
    before = _review_row(review)
    with refused(review.case, code=code) as excinfo:
        yield excinfo
    assert _review_row(review) == before


def close(review, reviewer, **kw):
    return review_close(
        review=review,
        reviewer=reviewer,
        outcome=kw.pop("outcome", ReviewOutcome.JUSTIFIED),
        findings=kw.pop("findings", FINDINGS),
        follow_up=kw.pop("follow_up", ""),
    )


# --- closing ---------------------------------------------------------------------------------


def test_another_reviewer_who_took_no_part_closes_the_review(clock, review, second_reviewer):
    clock.shift(timedelta(hours=3))
    before = AuditEvent.objects.count()
    closed = close(
        review,
        second_reviewer,
        outcome=ReviewOutcome.NOT_JUSTIFIED,
        follow_up="  Coach the breaker on the approver roster.  ",
    )
    closed.refresh_from_db()
    assert (closed.reviewer, closed.outcome, closed.findings, closed.follow_up) == (
        second_reviewer,
        ReviewOutcome.NOT_JUSTIFIED,
        FINDINGS,
        "Coach the breaker on the approver roster.",
    )
    assert closed.closed_at == timezone.now()
    assert not closed.is_open
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(action="review.close")
    assert (event.actor, event.case_id) == (second_reviewer, review.case_id)
    assert event.detail["review_id"] == review.pk
    assert event.detail["outcome"] == "not_justified"
    assert event.detail["used_by"] == "security.erin"
    assert event.detail["overdue"] is False


def test_the_breaker_cannot_review_their_own_break_glass(review, security_reviewer):
    with review_refused(review, "own_break_glass") as excinfo:
        close(review, security_reviewer)
    assert "another security reviewer" in str(excinfo.value)


@pytest.fixture
def agent_and_reviewer(db):
    """One person holding both roles: may review, but never a case they worked."""
    person = make_agent(username="dual.role")
    give_role(person, roles.SECURITY_REVIEWERS, roles.REVIEW)
    return person


@pytest.mark.parametrize("part", ["opened", "claimed"])
def test_someone_who_opened_or_worked_the_case_cannot_review_it(
    part, clock, agent, security_reviewer, agent_and_reviewer
):
    people = {"opened": {"opener": agent_and_reviewer}, "claimed": {"agent": agent_and_reviewer}}
    kw = {"agent": agent, **people[part]}
    case = case_in(State.READY, tier=RiskTier.PRIVILEGED, reviewer=security_reviewer, **kw)
    review = builders.review_of(case)
    with review_refused(review, "reviewer_took_part") as excinfo:
        close(review, agent_and_reviewer)
    assert case.reference in str(excinfo.value)


def test_an_approver_of_the_case_cannot_review_its_break_glass(
    clock, agent, security_reviewer, second_reviewer
):
    """second_reviewer gave the first of two approvals; security_reviewer then broke glass."""
    give_role(second_reviewer, roles.MANAGERS, roles.APPROVE)
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=second_reviewer, reason="Checked the evidence")
    builders.break_glass(case, security_reviewer)
    review = builders.review_of(case)
    with review_refused(review, "reviewer_took_part"):
        close(review, second_reviewer)


def test_a_reviewer_who_released_the_case_earlier_took_part(
    clock, agent, security_reviewer, second_reviewer
):
    """Only the trail remembers who released an escalation: it counts as taking part."""
    case = case_in(State.ESCALATED, agent=agent)
    case_release(case=case, actor=second_reviewer, reason="Caller re-verified on a callback")
    clock.shift(timedelta(minutes=1))  # evidence counts from after the release
    pass_totp(case, agent)
    builders.break_glass(case, security_reviewer)
    review = builders.review_of(case)
    with review_refused(review, "reviewer_took_part"):
        close(review, second_reviewer)


def test_a_reviewer_who_released_the_recovery_gap_took_part(
    clock, agent, security_reviewer, second_reviewer
):
    case = claimed_case(agent=agent)
    case_gap_release(case=case, actor=second_reviewer, reason="Second reset agreed with HR")
    pass_totp(case, agent)
    builders.break_glass(case, security_reviewer)
    with review_refused(builders.review_of(case), "reviewer_took_part"):
        close(builders.review_of(case), second_reviewer)


def test_the_subject_cannot_review_the_break_glass_of_their_own_recovery(
    clock, agent, security_reviewer
):
    subject_reviewer = make_security_reviewer(username="security.gail")
    case = claimed_case(agent=agent)
    case.subject.staff_user = subject_reviewer
    case.subject.save(update_fields=["staff_user"])
    pass_totp(case, agent)
    builders.break_glass(case, security_reviewer)
    with review_refused(builders.review_of(case), "own_recovery"):
        close(builders.review_of(case), subject_reviewer)


@pytest.mark.parametrize("who", ["agent", "manager"])
def test_only_a_security_reviewer_of_the_queue_reviews(who, review, agent, manager):
    with review_refused(review, "not_reviewer"):
        close(review, {"agent": agent, "manager": manager}[who])


def test_a_reviewer_removed_from_the_queue_cannot_review(review, second_reviewer):
    second_reviewer.is_active = False
    second_reviewer.save(update_fields=["is_active"])
    with review_refused(review, "not_reviewer"):
        close(review, second_reviewer)


def test_a_review_is_closed_once(clock, review, second_reviewer):
    third = make_security_reviewer(username="security.hana")
    close(review, second_reviewer)
    with review_refused(review, "review_closed"):
        close(review, third)
    with review_refused(review, "review_closed"):
        close(review, second_reviewer)
    assert AuditEvent.objects.filter(action="review.close").count() == 1


@pytest.mark.parametrize(
    "findings", ["", "    ", "ok", "fine fine fine fine fine fine", "Looks OK to me", "a" * 50]
)
def test_findings_are_a_sentence(findings, review, second_reviewer):
    with review_refused(review, "findings_required"):
        close(review, second_reviewer, findings=findings)


@pytest.mark.parametrize("outcome", ["", "approved", "JUSTIFIED", "yes"])
def test_the_outcome_is_one_of_the_list(outcome, review, second_reviewer):
    with review_refused(review, "outcome_required"):
        close(review, second_reviewer, outcome=outcome)


def test_a_break_glass_found_not_justified_names_its_follow_up(review, second_reviewer):
    with review_refused(review, "follow_up_required"):
        close(review, second_reviewer, outcome=ReviewOutcome.NOT_JUSTIFIED, follow_up="  ")


def test_the_person_is_checked_before_the_form(review, manager):
    """A non-reviewer hears that they may not review, not that their findings are short."""
    with review_refused(review, "not_reviewer"):
        close(review, manager, outcome="bogus", findings="")


def test_a_later_break_glass_on_the_case_opens_a_second_review_the_first_breaker_cannot_close(
    clock, agent, security_reviewer, second_reviewer
):
    """Flagged after the first break-glass, released, broken again by someone else: the first
    breaker took part in the case, so reviews neither."""
    third = make_security_reviewer(username="security.hana")
    first = builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    case = first.case
    case_flag_fraud(case=case, actor=agent, reason="Caller's story changed on a callback")
    case_release(case=case, actor=third, reason="Verified with the subject's manager")
    clock.shift(timedelta(minutes=1))  # evidence counts from after the release
    pass_totp(case, agent)
    builders.break_glass(case, second_reviewer)
    second = builders.review_of(case)
    assert second.pk != first.pk
    with review_refused(second, "reviewer_took_part"):
        close(second, security_reviewer)
    fourth = make_security_reviewer(username="security.ivan")
    close(second, fourth)
    close(first, fourth)
    assert BreakGlassReview.objects.filter(case=case, closed_at__isnull=False).count() == 2


# --- overdue reviews and the sweep -------------------------------------------------------------


def sweep():
    return case_sweep_due(batch_size=50)


def overdue_events(review) -> int:
    return AuditEvent.objects.filter(action="review.overdue", detail__review_id=review.pk).count()


class RecordingLog:
    def __init__(self):
        self.warnings = []

    def warning(self, event, **facts):
        self.warnings.append((event, facts))


@pytest.fixture
def security_log(monkeypatch):
    recorder = RecordingLog()
    monkeypatch.setattr(review_services, "log", recorder)
    return recorder


def test_a_review_is_not_escalated_before_it_is_due(clock, review):
    clock.shift(DAY - timedelta(seconds=1))
    assert sweep()["reviews_escalated"] == 0
    review.refresh_from_db()
    assert review.escalated_at is None
    assert overdue_events(review) == 0


def test_an_overdue_review_escalates_exactly_once(
    clock, review, security_log, django_capture_on_commit_callbacks
):
    clock.shift(timedelta(hours=25))
    with django_capture_on_commit_callbacks(execute=True):
        first = sweep()
    with django_capture_on_commit_callbacks(execute=True):
        again = sweep()
    assert (first["reviews_escalated"], again["reviews_escalated"]) == (1, 0)
    review.refresh_from_db()
    assert review.escalated_at == timezone.now()
    assert review.is_open  # still waits for its reviewer
    assert overdue_events(review) == 1
    event = AuditEvent.objects.get(action="review.overdue")
    assert (event.actor, event.actor_kind, event.case_id) == (None, "system", review.case_id)
    assert event.detail["used_by"] == "security.erin"
    assert security_log.warnings == [
        (
            "cases.break_glass_review_overdue",
            {
                "review_id": review.pk,
                "case": review.case.reference,
                "used_by": "security.erin",
                "reason": review.reason,
                "due_at": review.due_at.isoformat(),
            },
        )
    ]


def test_escalating_twice_at_once_escalates_once(clock, review):
    """Two sweeps that both listed the review: the second finds it escalated under the lock."""
    clock.shift(timedelta(hours=25))
    assert review_escalate_overdue(review_id=review.pk) is True
    assert review_escalate_overdue(review_id=review.pk) is False
    assert overdue_events(review) == 1


def test_the_escalation_step_rechecks_the_due_time_on_the_locked_row(clock, review):
    assert review_escalate_overdue(review_id=review.pk) is False
    assert overdue_events(review) == 0


def test_a_closed_review_never_escalates(clock, review, second_reviewer):
    close(review, second_reviewer)
    clock.shift(timedelta(days=3))
    assert sweep()["reviews_escalated"] == 0
    assert review_escalate_overdue(review_id=review.pk) is False
    review.refresh_from_db()
    assert review.escalated_at is None
    assert overdue_events(review) == 0


def test_an_overdue_review_can_still_be_closed_and_says_it_was_late(clock, review, second_reviewer):
    clock.shift(timedelta(hours=30))
    sweep()
    close(review, second_reviewer)
    event = AuditEvent.objects.get(action="review.close")
    assert event.detail["overdue"] is True
    clock.shift(DAY)
    assert sweep()["reviews_escalated"] == 0


def test_overdue_reviews_are_escalated_in_batches(clock, agent, security_reviewer):
    reviews = [
        builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
        for _ in range(3)
    ]
    clock.shift(timedelta(hours=25))
    assert case_sweep_due(batch_size=2)["reviews_escalated"] == 2
    assert case_sweep_due(batch_size=2)["reviews_escalated"] == 1
    assert case_sweep_due(batch_size=2)["reviews_escalated"] == 0
    assert all(overdue_events(review) == 1 for review in reviews)


def test_the_sweep_task_escalates_an_overdue_review_once(clock, review):
    clock.shift(timedelta(hours=25))
    assert sweep_due_cases.apply().get()["reviews_escalated"] == 1
    assert sweep_due_cases.apply().get()["reviews_escalated"] == 0
    assert overdue_events(review) == 1


def test_the_overdue_builder_moves_the_clock_and_runs_the_sweeps_step(clock, review):
    review = builders.review_overdue(review, clock)
    assert review.escalated_at is not None
    assert overdue_events(review) == 1


# --- at the same moment (PostgreSQL: SQLite serialises every writer) ---------------------------

RACERS = 6
ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite serialises writers with one database lock; races run on PostgreSQL.",
)


@pytest.fixture
def overdue_review(agent, security_reviewer) -> BreakGlassReview:
    """Broken glass on 30 hours ago on the real clock: threads read the real database time."""
    with clock_at(datetime.now(UTC) - timedelta(hours=30)):
        review = builders.broken_glass(agent=agent, reviewer=security_reviewer)
    assert review.due_at < datetime.now(UTC)
    return review


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@ON_POSTGRESQL
def test_reviewers_closing_one_review_at_once_close_it_once(concurrently, overdue_review):
    reviewers = [make_security_reviewer(username=f"security.racer{i}") for i in range(RACERS)]
    outcomes = concurrently(*(partial(close, overdue_review, reviewer) for reviewer in reviewers))
    closed = [o for o in outcomes if o.error is None]
    refused_codes = sorted(o.error.code for o in outcomes if o.error is not None)
    assert len(closed) == 1
    assert refused_codes == ["review_closed"] * (RACERS - 1)
    overdue_review.refresh_from_db()
    assert overdue_review.reviewer_id == closed[0].value.reviewer_id
    assert AuditEvent.objects.filter(action="review.close").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@ON_POSTGRESQL
def test_sweeps_running_at_once_escalate_an_overdue_review_once(concurrently, overdue_review):
    outcomes = concurrently(*(partial(case_sweep_due, batch_size=10) for _ in range(RACERS)))
    assert [o.error for o in outcomes] == [None] * RACERS
    assert sum(o.value["reviews_escalated"] for o in outcomes) == 1
    assert overdue_events(overdue_review) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@ON_POSTGRESQL
def test_a_close_racing_the_sweep_leaves_a_consistent_review(
    concurrently, overdue_review, second_reviewer
):
    outcomes = concurrently(
        partial(close, overdue_review, second_reviewer),
        partial(review_escalate_overdue, review_id=overdue_review.pk),
    )
    assert [o.error for o in outcomes] == [None, None]
    overdue_review.refresh_from_db()
    assert overdue_review.closed_at is not None
    escalated = outcomes[1].value
    assert (overdue_review.escalated_at is not None) == escalated
    assert overdue_events(overdue_review) == int(escalated)
