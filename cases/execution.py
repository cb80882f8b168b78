"""Carrying a recovery out on the directory, outside any database transaction.

A real LDAP, Active Directory or SCIM call cannot run under a row lock or be rolled back. So
``case_execute`` commits ``executing`` first and enqueues ``cases.tasks.execute_case`` on
commit; the task calls ``execution_run``, which calls the connector with the case reference as
its idempotency key and commits the outcome in a second, short transaction. A connector error
is retried with backoff up to ``EXECUTION_MAX_ATTEMPTS``; then the case goes to
``execution_failed``, where an agent retries or abandons it. The sweep re-drives a case stuck
in ``executing`` (broker lost the task, worker died). Every connector call is idempotent, so a
call repeated after a crash changes nothing twice, and only one outcome is ever committed.

The per-kind recovery plan lives here, in ``cases``; ``directory`` knows nothing of cases.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import partial

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from directory.connectors import Capability, DirectoryConnector, get_connector
from directory.models import Identity
from recovery_desk.actors import SYSTEM

from .errors import Refusal
from .models import RecoveryCase
from .states import Kind, State
from .transitions import apply_transition, ensure_allowed
from .workflow import lock_case

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Plan:
    """What a completed recovery of one kind asks of the directory.

    Every recovery ends the subject's sessions (OWASP ASVS 7.4.3). A reset or re-bind ends a
    lockout (never enables a disabled account); a re-bind revokes the authenticator being
    replaced (all of them when none was named); a reactivation enables the account. Setting
    the password or enrolling the new authenticator is the subject's own step, with the
    recovery pass (ASVS 6.4.6: staff never choose it), so the directory must be able to do it.
    """

    needs: frozenset[Capability]


PLANS: dict[str, Plan] = {
    Kind.PASSWORD_RESET: Plan(
        frozenset({Capability.SET_PASSWORD, Capability.UNLOCK, Capability.REVOKE_SESSIONS})
    ),
    Kind.MFA_REBIND: Plan(
        frozenset(
            {
                Capability.REPLACE_AUTHENTICATORS,
                Capability.UNLOCK,
                Capability.REVOKE_SESSIONS,
            }
        )
    ),
    Kind.REACTIVATION: Plan(frozenset({Capability.ENABLE, Capability.REVOKE_SESSIONS})),
}


def configured_connector() -> DirectoryConnector:
    return get_connector(settings.DIRECTORY_CONNECTOR)


def plan_refusal(kind: str, connector: DirectoryConnector | None = None) -> Refusal | None:
    """Refuse, at opening, a recovery the configured directory cannot carry out."""
    connector = connector or configured_connector()
    missing = PLANS[kind].needs - connector.capabilities
    if missing:
        return Refusal(
            "directory_cannot",
            f"The {connector.name} directory cannot {', '.join(sorted(missing))}, which a "
            f"{Kind(kind).label.lower()} needs; it cannot be recovered here.",
        )
    return None


def carry_out(
    *, connector: DirectoryConnector, identity: Identity, case: RecoveryCase
) -> dict[str, int]:
    """Run the plan for ``case`` on the directory; returns what changed, for the audit row."""
    key = case.reference
    changed: dict[str, int] = {}
    if case.kind == Kind.REACTIVATION:
        changed["enabled"] = connector.enable(identity, idempotency_key=key)
    else:
        changed["unlocked"] = connector.unlock(identity, idempotency_key=key)
    if case.kind == Kind.MFA_REBIND:
        replaced = case.replaced_authenticator_id
        changed["authenticators_revoked"] = connector.replace_authenticators(
            identity, authenticator_ids=[replaced] if replaced else None, idempotency_key=key
        )
    changed["sessions_revoked"] = connector.revoke_sessions(identity, idempotency_key=key)
    return changed


def enqueue_execution(case_id: int) -> None:
    """Hand the case to a worker (called on commit). A broker outage must not fail the request
    that already committed ``executing``: the sweep re-drives the case once it is stuck."""
    from kombu.exceptions import OperationalError

    from .tasks import execute_case

    try:
        execute_case.delay(case_id)
    except (OperationalError, OSError) as error:
        log.warning("cases.execution_not_enqueued", case_id=case_id, error=str(error))


def _begin_attempt(case_id: int) -> RecoveryCase | None:
    """Count the attempt on the locked row; None when there is nothing (left) to do."""
    with transaction.atomic():
        case, now = lock_case(case_id)
        if case.state != State.EXECUTING:
            return None
        case.execution_attempts += 1
        case.execution_attempted_at = now
        case.save(update_fields=["execution_attempts", "execution_attempted_at"])
        return case


def execution_run(*, case_id: int, connector: DirectoryConnector | None = None) -> RecoveryCase:
    """One attempt at the directory for a case in ``executing``; idempotent.

    Raises ``ConnectorError`` when the directory fails (the task retries, or gives up with
    ``execution_give_up``). Returns the case as it stands afterwards.
    """
    case = _begin_attempt(case_id)
    if case is None:
        return RecoveryCase.objects.get(pk=case_id)
    identity = Identity.objects.get(pk=case.subject_id)
    changed = carry_out(connector=connector or configured_connector(), identity=identity, case=case)
    with transaction.atomic():
        case, now = lock_case(case_id)
        if case.state != State.EXECUTING:
            return case  # another attempt committed the outcome first
        ensure_allowed(case, "execution_done", SYSTEM, now)
        apply_transition(
            case,
            "execution_done",
            target=State.COMPLETED,
            actor=SYSTEM,
            now=now,
            detail={"directory": changed, "attempts": case.execution_attempts},
        )
    return case


def execution_attempts_left(*, case_id: int) -> bool:
    case = RecoveryCase.objects.only("execution_attempts").get(pk=case_id)
    return case.execution_attempts < settings.EXECUTION_MAX_ATTEMPTS


def execution_give_up(*, case_id: int, error: str) -> RecoveryCase:
    """The directory failed every attempt: the case waits in ``execution_failed`` for an
    agent to retry or abandon it. Idempotent: a case no longer executing is left alone."""
    with transaction.atomic():
        case, now = lock_case(case_id)
        if case.state != State.EXECUTING:
            return case
        ensure_allowed(case, "execution_failed", SYSTEM, now)
        case.execution_error = error[:2000]
        apply_transition(
            case,
            "execution_failed",
            target=State.EXECUTION_FAILED,
            actor=SYSTEM,
            now=now,
            update_fields=("execution_error",),
            detail={"error": error[:500], "attempts": case.execution_attempts},
        )
    return case


def _stuck(now: datetime) -> Q:
    """In ``executing`` with no attempt (or start) within the timeout."""
    cutoff = now - settings.EXECUTION_STUCK_AFTER
    return Q(state=State.EXECUTING) & (
        Q(execution_attempted_at__lt=cutoff)
        | Q(execution_attempted_at__isnull=True, execution_started_at__lt=cutoff)
    )


def stuck_executions(*, now: datetime, limit: int) -> list[int]:
    """Cases stuck in ``executing``, oldest first."""
    return list(
        RecoveryCase.objects.filter(_stuck(now))
        .order_by("execution_started_at")
        .values_list("pk", flat=True)[:limit]
    )


def execution_redrive(*, case_id: int) -> str:
    """The sweep's step for a case stuck in ``executing``: enqueue another attempt, or give up
    once the attempts are spent. The attempt time is stamped so the next sweep waits again."""
    with transaction.atomic():
        case, now = lock_case(case_id)
        if not RecoveryCase.objects.filter(_stuck(now), pk=case.pk).exists():
            return "nothing"  # moved on, or attempted again meanwhile
        if case.execution_attempts >= settings.EXECUTION_MAX_ATTEMPTS:
            execution_give_up(case_id=case_id, error=case.execution_error or "no answer")
            return "gave_up"
        case.execution_attempted_at = now
        case.save(update_fields=["execution_attempted_at"])
        transaction.on_commit(partial(enqueue_execution, case.pk))
        return "redriven"
