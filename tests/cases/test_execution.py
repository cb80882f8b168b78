"""Carrying a recovery out on the directory, outside the database transaction.

``ready -> executing`` commits first; the task calls the connector (idempotency key: the case
reference), retries with backoff, and ends in ``completed`` or, with its attempts spent, in
``execution_failed``, where an agent retries or abandons. The sweep re-drives a case stuck in
``executing``. Opening a case the directory cannot carry out is refused.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from kombu.exceptions import OperationalError

from audit.models import AuditEvent
from cases.execution import execution_run
from cases.models import RecoveryCase
from cases.services import case_abandon, case_execute, case_retry_execution
from cases.states import Kind, State
from cases.sweep import case_sweep_due
from cases.tasks import execute_case
from directory.connectors import Capability, ConnectorError
from directory.connectors.local import LocalDirectory
from directory.models import AccountState, DirectorySession
from tests.cases.builders import open_case
from tests.celery_support import wait_until
from tests.directory.factories import IdentityFactory, SessionFactory
from tests.helpers import (
    UnreachableDirectory,
    executing_case,
    execution_failed_case,
    ready_case,
    refused,
)

pytestmark = pytest.mark.django_db


class FlakyDirectory(LocalDirectory):
    """Fails the first ``failures`` calls to revoke sessions, then works."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def revoke_sessions(self, identity, *, idempotency_key=""):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectorError("The directory timed out.")
        return super().revoke_sessions(identity, idempotency_key=idempotency_key)


class NoAuthenticatorDirectory(LocalDirectory):
    """A directory that cannot replace authenticators (an LDAP tree holding passwords only)."""

    name = "passwords-only"
    capabilities = frozenset(Capability) - {Capability.REPLACE_AUTHENTICATORS}


def _use(monkeypatch, connector) -> None:
    monkeypatch.setattr("cases.execution.configured_connector", lambda: connector)


def _events(case, action: str) -> int:
    return AuditEvent.objects.filter(case=case, action=action).count()


def test_a_directory_that_fails_twice_then_answers_completes_the_case(clock, agent, monkeypatch):
    _use(monkeypatch, FlakyDirectory(failures=2))
    case = executing_case(agent=agent)

    assert execute_case.apply(args=(case.pk,)).get() == State.COMPLETED  # retries eagerly

    case.refresh_from_db()
    assert (case.state, case.execution_attempts) == (State.COMPLETED, 3)
    assert _events(case, "case.execution_done") == 1


def test_a_directory_that_always_fails_leaves_the_case_waiting_for_an_agent(
    clock, agent, monkeypatch
):
    _use(monkeypatch, UnreachableDirectory())
    case = executing_case(agent=agent)

    assert execute_case.apply(args=(case.pk,)).get() == State.EXECUTION_FAILED

    case.refresh_from_db()
    assert case.execution_attempts == django_settings.EXECUTION_MAX_ATTEMPTS
    assert case.execution_error == "The directory did not answer."
    event = AuditEvent.objects.get(case=case, action="case.execution_failed")
    assert (event.actor_kind, event.new_state) == ("system", State.EXECUTION_FAILED)


def test_an_agent_retries_a_failed_execution_and_it_completes(clock, agent, monkeypatch):
    case = execution_failed_case(agent=agent)
    case = case_retry_execution(case=case, actor=agent)
    assert (case.state, case.execution_attempts) == (State.EXECUTING, 0)
    assert execution_run(case_id=case.pk).state == State.COMPLETED


def test_an_agent_abandons_a_failed_execution_with_a_reason(clock, agent):
    case = execution_failed_case(agent=agent)
    with refused(case, code="reason_required"):
        case_abandon(case=case, actor=agent, reason="  ")
    case = case_abandon(case=case, actor=agent, reason="Account migrated to the new forest.")
    assert (case.state, case.closing_reason) == (
        State.ABANDONED,
        "Account migrated to the new forest.",
    )
    assert case.closed_at is not None


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside the process: nothing after it runs."""


def test_a_worker_killed_after_the_directory_call_changes_nothing_twice(clock, agent, monkeypatch):
    """The connector ran, the outcome was never committed; the redelivered task calls the
    (idempotent) directory again, which finds nothing left to do, and commits once."""
    subject = IdentityFactory(account_state=AccountState.LOCKED)
    SessionFactory(identity=subject)
    case = executing_case(agent=agent, subject=subject)
    real = LocalDirectory()

    class DiesAfterTheCall(LocalDirectory):
        def revoke_sessions(self, identity, *, idempotency_key=""):
            real.revoke_sessions(identity, idempotency_key=idempotency_key)
            raise WorkerKilled

    _use(monkeypatch, DiesAfterTheCall())
    with pytest.raises(WorkerKilled):
        execution_run(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == State.EXECUTING
    revoked_at = DirectorySession.objects.get(identity=subject).revoked_at
    assert revoked_at is not None

    _use(monkeypatch, real)
    case = execution_run(case_id=case.pk)

    assert case.state == State.COMPLETED
    assert DirectorySession.objects.get(identity=subject).revoked_at == revoked_at
    event = AuditEvent.objects.get(case=case, action="case.execution_done")
    assert event.detail["directory"] == {"sessions_revoked": 0, "unlocked": 0}
    assert event.detail["attempts"] == 2


def test_running_the_task_again_after_completion_does_nothing(clock, agent):
    case = executing_case(agent=agent)
    execution_run(case_id=case.pk)
    trail = AuditEvent.objects.count()
    assert execute_case.apply(args=(case.pk,)).get() == State.COMPLETED
    assert AuditEvent.objects.count() == trail


def test_a_task_for_a_case_that_does_not_exist_is_dropped(clock):
    assert execute_case.apply(args=(999_999,)).get() == "missing"


def test_a_broker_outage_at_the_hand_off_loses_nothing(
    clock, agent, monkeypatch, django_capture_on_commit_callbacks
):
    """The request that committed ``executing`` still succeeds; the sweep re-drives the case
    once it has waited past the timeout."""
    enqueued = []

    def broker_down(case_id):
        raise OperationalError("Connection refused")

    monkeypatch.setattr(execute_case, "delay", broker_down)
    case = ready_case(agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        case = case_execute(case=case, actor=agent)
    assert RecoveryCase.objects.get(pk=case.pk).state == State.EXECUTING

    monkeypatch.setattr(execute_case, "delay", enqueued.append)
    clock.shift(django_settings.EXECUTION_STUCK_AFTER - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert case_sweep_due(batch_size=10)["executions_redriven"] == 0
    clock.shift(timedelta(seconds=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert case_sweep_due(batch_size=10)["executions_redriven"] == 1
    assert enqueued == [case.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert case_sweep_due(batch_size=10)["executions_redriven"] == 0  # waits again


def test_the_sweep_gives_up_on_a_stuck_case_whose_attempts_are_spent(clock, agent, monkeypatch):
    _use(monkeypatch, UnreachableDirectory())
    case = executing_case(agent=agent)
    for _ in range(django_settings.EXECUTION_MAX_ATTEMPTS):
        with pytest.raises(ConnectorError):
            execution_run(case_id=case.pk)
    clock.shift(django_settings.EXECUTION_STUCK_AFTER + timedelta(seconds=1))
    assert case_sweep_due(batch_size=10)["executions_redriven"] == 1
    case.refresh_from_db()
    assert case.state == State.EXECUTION_FAILED


def test_a_case_the_directory_cannot_carry_out_is_refused_at_opening(clock, agent, monkeypatch):
    _use(monkeypatch, NoAuthenticatorDirectory())
    witness = open_case(opener=agent)  # a password reset: this directory can do that
    with refused(witness, code="directory_cannot") as excinfo:
        open_case(opener=agent, kind=Kind.MFA_REBIND)
    assert "replace_authenticators" in str(excinfo.value)


def test_an_account_disabled_after_verification_is_not_recovered(clock, agent):
    case = ready_case(agent=agent)
    case.subject.account_state = AccountState.DISABLED
    case.subject.save(update_fields=["account_state"])
    with refused(case, code="account_disabled"):
        case_execute(case=case, actor=agent)


def test_the_directory_module_knows_nothing_of_cases():
    import ast
    from pathlib import Path

    root = Path(django_settings.BASE_DIR) / "directory"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else [alias.name for alias in node.names]
                )
                assert not any((n or "").startswith("cases") for n in names), path


# --- through a real worker on the configured broker (the demo's embedded one by default) -----


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_completes_an_executed_case_by_itself(agent, live_worker):
    """What ``make demo`` relies on: execute commits, the task is enqueued on commit, and the
    worker carries the recovery out with no one else doing anything."""
    case = case_execute(case=ready_case(agent=agent), actor=agent)

    assert wait_until(lambda: RecoveryCase.objects.get(pk=case.pk).state == State.COMPLETED), (
        f"the worker did not complete {case.reference}"
    )
    assert live_worker.finished(execute_case.name) == 1
    assert _events(case, "case.execution_done") == 1
