"""Fixtures for the concurrency tests and the live-worker tests of the cases app."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from tests.celery_support import live_worker  # noqa: F401  (a fixture, used by test_sweep)
from tests.conftest import clock_at

THREAD_TIMEOUT = 60.0


@dataclass
class Outcome:
    """What one concurrent call returned, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


def _run_together(*calls: Callable[[], Any]) -> list[Outcome]:
    """Run each call in its own thread, released together by a barrier; one Outcome per call.

    Every thread closes its own database connection: Django opens one per thread, and one left
    open would block the flush after the test (PostgreSQL) or hold the file (SQLite).
    """
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def run(outcome: Outcome, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=THREAD_TIMEOUT)
            outcome.value = call()
        except BaseException as exc:  # collected here, asserted on by the test
            outcome.error = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(outcome, call), daemon=True)
        for outcome, call in zip(outcomes, calls, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a racing thread never finished"
    return outcomes


@pytest.fixture
def concurrently() -> Callable[..., list[Outcome]]:
    """``concurrently(call, call, ...)``: the calls start at the same moment in real threads."""
    return _run_together


@pytest.fixture
def hold_elapsed_case(agent, manager):
    """A case cooling off since two hours ago on the real clock: a worker in another thread or
    process runs on real time, so the hold has elapsed when it looks. Request it before the
    worker fixture: the worker must not run while the clock is travelled."""
    from tests.cases.test_sweep import HOLD, cooling_off_case

    with clock_at(datetime.now(UTC) - 2 * HOLD):
        case = cooling_off_case(agent=agent, approver=manager)
    assert case.hold_until < datetime.now(UTC)
    return case
