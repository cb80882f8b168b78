"""The beat sweep: it moves a case only once the database clock has passed its deadline, and
running it twice, late, or alongside another run never moves a case twice (docs/design.md "Time").
"""

from datetime import timedelta

import pytest

from approvals.services import approval_grant
from audit.models import AuditEvent
from cases import sweep as sweep_module
from cases.models import RecoveryCase
from cases.services import case_dispute
from cases.states import Kind, State
from cases.sweep import case_sweep_due
from cases.tasks import sweep_due_cases
from tests.cases.builders import open_case, verified_case
from tests.celery_support import wait_until

HOLD = timedelta(hours=1)  # MFA re-bind, standard tier: one approval, then one hour's hold
CLAIM_DEADLINE = timedelta(hours=24)
SECOND = timedelta(seconds=1)
NOTHING = {"holds_ended": 0, "expired": 0, "executions_redriven": 0, "reviews_escalated": 0}


def cooling_off_case(*, agent, approver) -> RecoveryCase:
    case = verified_case(agent=agent, kind=Kind.MFA_REBIND)
    approval_grant(case=case, approver=approver, reason="Spoke to the subject's manager")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    return case


def state_of(case) -> str:
    return RecoveryCase.objects.values_list("state", flat=True).get(pk=case.pk)


def events(case, action) -> int:
    return AuditEvent.objects.filter(case=case, action=action).count()


def sweep() -> dict[str, int]:
    return case_sweep_due(batch_size=50)


# --- the service, on the test's frozen clock -------------------------------------------------


@pytest.mark.django_db
def test_sweep_leaves_a_hold_alone_until_it_has_elapsed(clock, agent, manager):
    case = cooling_off_case(agent=agent, approver=manager)
    clock.shift(HOLD - SECOND)

    assert sweep() == NOTHING
    assert state_of(case) == State.COOLING_OFF
    assert events(case, "case.end_hold") == 0


@pytest.mark.django_db
def test_sweep_ends_a_hold_once_it_has_elapsed(clock, agent, manager):
    case = cooling_off_case(agent=agent, approver=manager)
    clock.shift(HOLD + SECOND)

    assert sweep() == {**NOTHING, "holds_ended": 1}
    assert state_of(case) == State.READY
    event = AuditEvent.objects.get(case=case, action="case.end_hold")
    assert (event.actor, event.old_state, event.new_state) == (
        None,
        State.COOLING_OFF,
        State.READY,
    )


@pytest.mark.django_db
def test_sweep_leaves_an_unclaimed_case_alone_until_its_deadline(clock, agent):
    case = open_case(opener=agent)
    clock.shift(CLAIM_DEADLINE - SECOND)

    assert sweep() == NOTHING
    assert state_of(case) == State.NEW


@pytest.mark.django_db
def test_sweep_expires_an_unclaimed_case_past_its_deadline(clock, agent):
    case = open_case(opener=agent)
    clock.shift(CLAIM_DEADLINE + SECOND)

    assert sweep() == {**NOTHING, "expired": 1}
    assert state_of(case) == State.EXPIRED
    event = AuditEvent.objects.get(case=case, action="case.expire")
    assert (event.actor, event.old_state, event.new_state) == (None, State.NEW, State.EXPIRED)


@pytest.mark.django_db
def test_sweep_run_again_changes_nothing(clock, agent, manager):
    held = cooling_off_case(agent=agent, approver=manager)
    overdue = open_case(opener=agent)
    clock.shift(CLAIM_DEADLINE + SECOND)
    assert sweep() == {**NOTHING, "holds_ended": 1, "expired": 1}
    trail = list(AuditEvent.objects.values_list("pk", flat=True))

    assert sweep() == NOTHING
    assert (state_of(held), state_of(overdue)) == (State.READY, State.EXPIRED)
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == trail


@pytest.mark.django_db
def test_sweep_skips_a_held_case_someone_else_moved_meanwhile(clock, monkeypatch, agent, manager):
    case = cooling_off_case(agent=agent, approver=manager)
    clock.shift(HOLD + SECOND)
    end_hold = sweep_module.case_end_hold

    def disputed_first(*, case, **kwargs):
        # Between the sweep listing the case and locking it, the subject disputes it.
        case_dispute(case=case, statement="This was not me")
        return end_hold(case=case, **kwargs)

    monkeypatch.setattr(sweep_module, "case_end_hold", disputed_first)

    assert sweep() == NOTHING
    assert state_of(case) == State.CANCELLED
    assert events(case, "case.end_hold") == 0


@pytest.mark.django_db
def test_sweep_skips_an_overdue_case_someone_else_moved_meanwhile(clock, monkeypatch, agent):
    case = open_case(opener=agent)
    clock.shift(CLAIM_DEADLINE + SECOND)
    expire = sweep_module.case_expire

    def disputed_first(*, case, **kwargs):
        case_dispute(case=case, statement="This was not me")
        return expire(case=case, **kwargs)

    monkeypatch.setattr(sweep_module, "case_expire", disputed_first)

    assert sweep() == NOTHING
    assert state_of(case) == State.CANCELLED
    assert events(case, "case.expire") == 0


# --- the Celery task, run in-process ---------------------------------------------------------


@pytest.mark.django_db
def test_sweep_task_run_twice_in_a_row_moves_a_case_once(clock, agent, manager):
    case = cooling_off_case(agent=agent, approver=manager)
    clock.shift(HOLD + SECOND)

    first = sweep_due_cases.apply().get()
    second = sweep_due_cases.apply().get()

    assert (first["holds_ended"], second["holds_ended"]) == (1, 0)
    assert state_of(case) == State.READY
    assert events(case, "case.end_hold") == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sweep_task_run_twice_at_once_moves_a_case_once(clock, concurrently, agent, manager):
    case = cooling_off_case(agent=agent, approver=manager)
    clock.shift(HOLD + SECOND)

    outcomes = concurrently(*(lambda: sweep_due_cases.apply().get() for _ in range(2)))

    assert [o.error for o in outcomes] == [None, None]
    assert sorted(o.value["holds_ended"] for o in outcomes) == [0, 1]
    assert state_of(case) == State.READY
    assert events(case, "case.end_hold") == 1


# --- the Celery task, through a real worker on the configured broker -------------------------
# The worker runs on the real clock, so the case is driven to cooling off at a moment in the
# past: by the time the worker sees it, its hold has elapsed in real time.


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_live_worker_sweep_ends_an_elapsed_hold(hold_elapsed_case, live_worker):
    case = hold_elapsed_case

    sweep_due_cases.delay()

    assert wait_until(lambda: state_of(case) == State.READY), (
        f"the worker did not end the hold of {case.reference} (state {state_of(case)})"
    )
    assert events(case, "case.end_hold") == 1


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_live_worker_given_the_sweep_twice_moves_a_case_once(hold_elapsed_case, live_worker):
    case = hold_elapsed_case

    sweep_due_cases.delay()
    sweep_due_cases.delay()

    assert live_worker.wait_for(sweep_due_cases.name, count=2), "the worker ran fewer than 2"
    assert state_of(case) == State.READY
    assert events(case, "case.end_hold") == 1
