"""Failures delay the timeline, never corrupt it (docs/design.md "Time"): a sweep that dies half
way, a worker process killed in the middle of a task, a broker that was down for a day.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from cases import sweep as sweep_module
from cases.models import RecoveryCase
from cases.states import State
from cases.sweep import case_sweep_due
from cases.tasks import sweep_due_cases
from recovery_desk import celery_app
from tests.cases.builders import open_case
from tests.cases.test_sweep import CLAIM_DEADLINE, SECOND, events, state_of
from tests.celery_support import ensure_broker_reachable, wait_until

ROOT = Path(__file__).resolve().parents[2]


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside the process: nothing after it runs."""


# --- a sweep that dies half way ------------------------------------------------------------


@pytest.mark.django_db
def test_a_sweep_that_dies_half_way_keeps_what_it_finished_and_the_next_run_does_the_rest(
    clock, agent, monkeypatch
):
    cases = [open_case(opener=agent) for _ in range(3)]
    clock.shift(CLAIM_DEADLINE + SECOND)
    real_expire = sweep_module.case_expire
    expired = []

    def expire_then_die(*, case):
        if len(expired) == 1:
            with transaction.atomic():  # dies inside the second case's own transaction
                RecoveryCase.objects.select_for_update().get(pk=case.pk)
                raise WorkerKilled
        expired.append(real_expire(case=case))
        return expired[-1]

    monkeypatch.setattr(sweep_module, "case_expire", expire_then_die)
    with pytest.raises(WorkerKilled):
        case_sweep_due(batch_size=50)

    assert [state_of(case) for case in cases] == [State.EXPIRED, State.NEW, State.NEW]
    assert [events(case, "case.expire") for case in cases] == [1, 0, 0]

    monkeypatch.setattr(sweep_module, "case_expire", real_expire)
    assert case_sweep_due(batch_size=50) == {
        "holds_ended": 0,
        "expired": 2,
        "executions_redriven": 0,
        "reviews_escalated": 0,
    }
    assert [state_of(case) for case in cases] == [State.EXPIRED] * 3
    assert [events(case, "case.expire") for case in cases] == [1, 1, 1]


@pytest.mark.django_db
def test_after_a_day_without_sweeps_the_backlog_is_worked_off_in_batches(clock, agent):
    """A broker outage stops beat's sweeps; nothing moves meanwhile, and the first sweeps after
    it move every overdue case exactly once, a batch at a time."""
    cases = [open_case(opener=agent) for _ in range(5)]
    clock.shift(CLAIM_DEADLINE * 2)

    assert case_sweep_due(batch_size=2)["expired"] == 2
    assert case_sweep_due(batch_size=2)["expired"] == 2
    assert case_sweep_due(batch_size=2)["expired"] == 1
    assert case_sweep_due(batch_size=2)["expired"] == 0
    assert [events(case, "case.expire") for case in cases] == [1] * 5


# --- a worker process killed while it runs the sweep ---------------------------------------


def _worker_environment() -> dict[str, str]:
    """The worker process uses the test database and the test run's broker."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
        url = f"postgres://{database['USER']}@{host}:{port}/{database['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DJANGO_SETTINGS_MODULE": "recovery_desk.settings",
        "LOG_JSON": "0",
    }


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
def prefork_worker(tmp_path):
    """A real ``celery worker`` process with one pool child, as in production."""
    ensure_broker_reachable(celery_app)
    celery_app.control.purge()
    log = (tmp_path / "worker.log").open("w+")
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "recovery_desk",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],  # fmt: skip
        cwd=ROOT,
        env=_worker_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_until(lambda: bool(_children(process.pid))), "the worker did not start"
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _worker_waits_for_our_lock() -> bool:
    """PostgreSQL shows the blocked statement; SQLite cannot, so there a moment's pause after
    the task arrived stands in (if the kill comes before the lock, the test proves the same)."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return True
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps serving its first statistics snapshot.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _log_text(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_in_the_middle_of_the_sweep_loses_nothing_and_moves_the_case_once(
    hold_elapsed_case, prefork_worker
):
    case = hold_elapsed_case
    process, log = prefork_worker
    with transaction.atomic():
        # Hold the case's row so the sweep blocks inside case_end_hold's transaction.
        RecoveryCase.objects.select_for_update().get(pk=case.pk)
        task = sweep_due_cases.delay()
        received = f"sweep_due_cases[{task.id}] received"
        assert wait_until(lambda: received in _log_text(log)), _log_text(log)
        assert wait_until(_worker_waits_for_our_lock), _log_text(log)
        (child,) = _children(process.pid)
        os.kill(child, signal.SIGKILL)
        assert wait_until(lambda: "signal 9" in _log_text(log)), _log_text(log)
        assert state_of(case) == State.COOLING_OFF  # our lock is still held: nothing moved

    # acks_late + reject_on_worker_lost: the broker hands the task to the new pool child.
    # Celery reports the lost job after worker_lost_wait (10 s) on some brokers: allow for it.
    assert wait_until(lambda: state_of(case) == State.READY, timeout=60), _log_text(log)
    assert events(case, "case.end_hold") == 1
    assert "WorkerLostError" in _log_text(log)
    assert _log_text(log).count(received) == 2  # the same message, delivered again
