from datetime import UTC, datetime

import pytest
import time_machine

from tests.cases.factories import make_agent, make_manager, make_security_reviewer

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """The clock, frozen at START; ``clock.shift(timedelta)`` moves it."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


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
