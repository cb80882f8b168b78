from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import time_machine

from recovery_desk import clock as one_clock
from tests.cases.factories import make_agent, make_manager, make_security_reviewer

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    """The one clock the services read (``recovery_desk.clock``), pinned, with the app's clock
    (time-machine) moved alongside so history and creation stamps agree with it."""

    def __init__(self, pin, traveller) -> None:
        self.pin, self.traveller = pin, traveller

    def shift(self, delta) -> None:
        self.pin.shift(delta)
        self.traveller.shift(delta)

    def move_to(self, at) -> None:
        self.shift(at - one_clock.now())


@contextmanager
def clock_at(at):
    with time_machine.travel(at, tick=False) as traveller, one_clock.pinned(at) as pin:
        yield Clock(pin, traveller)


@pytest.fixture
def clock():
    """The clock, frozen at START; ``clock.shift(timedelta)`` moves it."""
    with clock_at(START) as frozen:
        yield frozen


@pytest.fixture
def agent(db):
    return make_agent(username="agent.alice")


@pytest.fixture
def other_agent(db):
    return make_agent(username="agent.bob")


@pytest.fixture
def manager(db):
    return make_manager(username="manager.carol")


@pytest.fixture
def other_manager(db):
    return make_manager(username="manager.dave")


@pytest.fixture
def security_reviewer(db):
    return make_security_reviewer(username="security.erin")


def pytest_collection_modifyitems(items):
    """A test that commits (``transaction=True``) must restore what migrations put in the
    database (``serialized_rollback=True``): a plain flush drops the shipped queues, policies
    and groups and re-creates content types in another order, and every later test that
    restores the database then fails on content types it cannot put back."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if (
            marker
            and marker.kwargs.get("transaction")
            and not marker.kwargs.get("serialized_rollback")
        ):
            raise pytest.UsageError(
                f"{item.nodeid}: django_db(transaction=True) needs serialized_rollback=True "
                "(tests/conftest.py)"
            )
