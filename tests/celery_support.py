"""A real Celery worker for tests marked ``celery_live`` (STYLE.md: Celery runs for real
wherever a test is about Celery).

The worker runs in a thread of the test process against the configured broker: kombu's
filesystem transport by default, Redis when ``CELERY_BROKER_URL`` says so. It reads and writes
the test database through its own connection, so tests that use it must be
``django_db(transaction=True)``: the worker only sees what the test has committed.
"""

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from celery import Celery, signals
from celery.contrib.testing.worker import start_worker
from kombu import Connection
from kombu.exceptions import OperationalError

from recovery_desk import celery_app

# Long enough for a slow CI machine, short enough that a dead worker fails the test quickly.
WAIT_SECONDS = 20.0


def ensure_broker_reachable(app: Celery) -> None:
    """Fail (never skip) a live test whose broker is down: a skipped test would hide an outage."""
    connection = Connection(
        app.conf.broker_url,
        transport_options=dict(app.conf.broker_transport_options or {}),
        connect_timeout=3,
    )
    try:
        connection.ensure_connection(
            max_retries=2, interval_start=0.2, interval_step=0.5, interval_max=1
        )
        problem = None
    except (OperationalError, OSError) as exc:
        problem = exc
    finally:
        connection.release()
    if problem is not None:
        pytest.fail(
            f"The Celery broker {connection.as_uri()} cannot be reached ({problem}). "
            "Tests marked celery_live need it: start it, or unset CELERY_BROKER_URL "
            "to use the filesystem broker.",
            pytrace=False,
        )


def wait_until(predicate: Callable[[], bool], *, timeout: float = WAIT_SECONDS) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; return the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


class LiveWorker:
    """Counts the tasks the worker has finished, so a test can wait for a task with no result."""

    def __init__(self) -> None:
        self._finished: list[str] = []
        self._changed = threading.Condition()

    def on_task_postrun(self, sender=None, task=None, **kwargs) -> None:
        if task is None or task.request.is_eager:
            return  # run in-process by .apply(), not by the worker
        with self._changed:
            self._finished.append(task.name)
            self._changed.notify_all()

    def finished(self, task_name: str) -> int:
        with self._changed:
            return self._finished.count(task_name)

    def wait_for(self, task_name: str, *, count: int, timeout: float = WAIT_SECONDS) -> bool:
        """Wait until the worker has finished ``task_name`` at least ``count`` times."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._finished.count(task_name) >= count, timeout=timeout
            )


@pytest.fixture
def live_worker() -> Iterator[LiveWorker]:
    """A solo-pool worker consuming the default queue, started on an emptied queue."""
    ensure_broker_reachable(celery_app)
    celery_app.control.purge()  # leftovers of an interrupted run must not count as ours
    worker = LiveWorker()
    signals.task_postrun.connect(worker.on_task_postrun, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield worker
    finally:
        signals.task_postrun.disconnect(worker.on_task_postrun)
