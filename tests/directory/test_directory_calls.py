"""Carrying a recovery out on the directory: only the task calls it, after the hand-off has
committed, with the case reference as idempotency key; a case that is not ready never reaches
it; a completed password reset ends a lockout (docs/design.md "Executing")."""

import pytest

from cases.execution import execution_run
from cases.services import case_execute
from cases.states import State
from directory.connectors import Capability
from directory.models import AccountState
from tests.directory.factories import IdentityFactory
from tests.helpers import executed, ready_case, refused, verifiable


class SpyConnector:
    """Records every directory action, and the idempotency key it came with."""

    name = "spy"
    capabilities = frozenset(Capability)

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _record(self, action: str, key: str) -> int:
        self.calls.append((action, key))
        return 0

    def set_password(self, identity, *, password, idempotency_key=""):
        return self._record("set_password", idempotency_key)

    def unlock(self, identity, *, idempotency_key=""):
        return self._record("unlock", idempotency_key)

    def enable(self, identity, *, idempotency_key=""):
        return self._record("enable", idempotency_key)

    def disable(self, identity, *, idempotency_key=""):
        return self._record("disable", idempotency_key)

    def revoke_sessions(self, identity, *, idempotency_key=""):
        return self._record("revoke_sessions", idempotency_key)

    def replace_authenticators(self, identity, *, authenticator_ids=None, idempotency_key=""):
        return self._record("replace_authenticators", idempotency_key)


@pytest.fixture
def spy_connector(monkeypatch):
    spy = SpyConnector()
    monkeypatch.setattr("cases.execution.configured_connector", lambda: spy)
    return spy


def test_the_directory_is_called_only_by_the_task_with_the_case_reference_as_key(
    clock, agent, spy_connector
):
    case = case_execute(case=ready_case(agent=agent), actor=agent)
    assert spy_connector.calls == []  # the hand-off commits first; nothing is called under it
    execution_run(case_id=case.pk)
    key = case.reference
    assert spy_connector.calls == [("unlock", key), ("revoke_sessions", key)]


def test_executing_a_case_that_is_not_ready_never_touches_the_directory(
    clock, agent, spy_connector
):
    case = verifiable(agent)  # being verified, with passing evidence, but not yet ready
    with refused(case, code="wrong_state"):
        case_execute(case=case, actor=agent)
    assert spy_connector.calls == []


def test_a_completed_password_reset_ends_the_lockout_of_a_locked_account(clock, agent):
    subject = IdentityFactory(account_state=AccountState.LOCKED)
    case = executed(ready_case(agent=agent, subject=subject), agent)
    subject.refresh_from_db()
    assert (case.state, subject.account_state) == (State.COMPLETED, AccountState.ACTIVE)
