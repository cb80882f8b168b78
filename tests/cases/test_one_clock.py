"""One clock: holds and deadlines are compared against the database's clock, in the same
transaction, so an app host whose clock runs fast cannot end a hold early or expire a case."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from approvals.services import approval_grant
from cases.models import RecoveryCase
from cases.services import case_end_hold, case_expire
from cases.states import Kind, State
from recovery_desk import clock as one_clock
from tests.conftest import clock_at
from tests.helpers import open_case, refused, verified_case_for

pytestmark = pytest.mark.django_db

HOST_AHEAD = timedelta(hours=25)


def _cooling_off_now(agent, approver) -> RecoveryCase:
    """A standard MFA re-bind whose one-hour hold started a minute ago, on the real clock."""
    with clock_at(datetime.now(UTC) - timedelta(minutes=1)):
        case = verified_case_for(agent=agent, kind=Kind.MFA_REBIND)
        approval_grant(case=case, approver=approver, reason="Spoke to the subject's manager")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    return case


def test_the_clock_is_the_databases():
    before = datetime.now(UTC)
    read = one_clock.now()
    assert abs(read - before) < timedelta(seconds=5)
    with time_machine.travel(before + HOST_AHEAD, tick=False):
        assert abs(one_clock.now() - before) < timedelta(seconds=5)


def test_a_host_whose_clock_runs_a_day_fast_cannot_end_a_hold(agent, manager):
    case = _cooling_off_now(agent, manager)
    host_ahead = time_machine.travel(datetime.now(UTC) + HOST_AHEAD, tick=False)
    with host_ahead, refused(case, code="cooling_off"):
        case_end_hold(case=case)


def test_a_host_whose_clock_runs_a_day_fast_cannot_expire_a_case(agent):
    with clock_at(datetime.now(UTC) - timedelta(minutes=1)):
        case = open_case(opener=agent)
    host_ahead = time_machine.travel(datetime.now(UTC) + HOST_AHEAD, tick=False)
    with host_ahead, refused(case, code="not_due"):
        case_expire(case=case)


def test_the_hold_ends_once_the_databases_clock_passes_it(agent, manager):
    case = _cooling_off_now(agent, manager)
    with one_clock.pinned(case.hold_until):
        assert case_end_hold(case=case).state == State.READY


def test_a_pin_moves_only_inside_its_block():
    at = datetime(2030, 1, 1, tzinfo=UTC)
    with one_clock.pinned(at) as pin:
        pin.shift(timedelta(minutes=5))
        assert one_clock.now() == at + timedelta(minutes=5)
    assert one_clock.now() < at
