"""THE transition table of a recovery case: what may happen in each state, who may do it,
and the guards that must hold. Single source of truth (docs/design.md "The rules table").

Each row names its sources and targets, its actor (``cases/access.py``) and its guards
(``cases/guards.py``), each a named function ``(case, actor, now) -> Refusal | None``.
Rows without targets are actions that change no state (evidence, a gap release).
``refusal_for`` answers "may this person do this now, and if not, why"; services call
``ensure_allowed`` on the locked row and ``apply_transition`` to move it; the selector
``available_actions`` asks the same table for every row; ``manage.py case_diagram`` draws it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from audit.services import audit_record

from . import access, guards
from .access import Actor
from .errors import Refusal, TransitionNotAllowed
from .models import RecoveryCase
from .states import OPEN_STATES, TERMINAL_STATES, State


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: frozenset[str]
    targets: tuple[str, ...]
    actor: Actor
    guards: tuple = ()
    when: str = ""

    @property
    def moves(self) -> bool:
        return bool(self.targets)


def _t(name, label, sources, targets, actor, guards=(), when="") -> Transition:
    return Transition(name, label, frozenset(sources), tuple(targets), actor, tuple(guards), when)


_REJECTER = Actor(
    "the assigned agent while verifying; a security reviewer once escalated",
    access.by_state({State.VERIFYING: access.ASSIGNED_AGENT, State.ESCALATED: access.REVIEWER}),
)
# A directory call may be under way while executing: nobody else moves the case then.
_OPEN_AND_IDLE = OPEN_STATES - {State.EXECUTING}

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t(
            "claim",
            "Claim",
            {State.NEW},
            [State.VERIFYING],
            access.AGENT_OF_QUEUE,
            [guards.not_expired],
        ),
        _t(
            "check_evidence",
            "Check evidence",
            {State.VERIFYING},
            [],
            access.ASSIGNED_AGENT,
            [guards.not_expired, guards.owner_active],
            "a method the pinned policy allows; failures count towards escalation",
        ),
        _t(
            "verify",
            "Close verification",
            {State.VERIFYING},
            [State.AWAITING_APPROVAL, State.COOLING_OFF, State.READY],
            access.ASSIGNED_AGENT,
            [
                guards.not_expired,
                guards.owner_active,
                guards.evidence_meets_policy,
                guards.outside_recovery_gap,
            ],
            "evidence meets the pinned policy; later steps the policy skips are skipped",
        ),
        _t(
            "escalate",
            "Escalate",
            {State.VERIFYING},
            [State.ESCALATED],
            access.SYSTEM_ON_FAILURE,
            when="too many failed evidence checks (per subject, answering person, authenticator)",
        ),
        _t(
            "flag_fraud",
            "Flag suspected fraud",
            {State.VERIFYING, State.AWAITING_APPROVAL, State.COOLING_OFF, State.READY},
            [State.ESCALATED],
            access.AGENT_OR_REVIEWER,
            when="suspected fraud or coaching; security must release it",
        ),
        _t(
            "release",
            "Release to verification",
            {State.ESCALATED},
            [State.VERIFYING],
            access.REVIEWER,
            when="reviewed; evidence and approvals are asked for again",
        ),
        _t(
            "approve",
            "Approve",
            {State.AWAITING_APPROVAL},
            [State.COOLING_OFF, State.READY],
            access.APPROVER,
            [guards.not_expired],
            "the N-th distinct valid approval moves the case on",
        ),
        _t(
            "deny",
            "Deny",
            {State.AWAITING_APPROVAL},
            [State.REJECTED],
            access.APPROVER,
            [guards.not_expired],
            "one denial rejects the case",
        ),
        _t(
            "reject",
            "Reject",
            {State.VERIFYING, State.ESCALATED},
            [State.REJECTED],
            _REJECTER,
            [guards.not_expired],
            "evidence failed or fraud suspected",
        ),
        _t(
            "end_hold",
            "End cooling-off",
            {State.COOLING_OFF},
            [State.READY],
            access.SYSTEM_ACTOR,
            [guards.hold_elapsed],
            "hold_until has passed on the database's clock",
        ),
        _t(
            "execute",
            "Execute",
            {State.READY},
            [State.EXECUTING],
            access.ASSIGNED_AGENT,
            [
                guards.not_expired,
                guards.owner_active,
                guards.outside_recovery_gap,
                guards.account_state_allows,
            ],
            "committed before the directory is called",
        ),
        _t(
            "execution_done",
            "Directory done",
            {State.EXECUTING},
            [State.COMPLETED],
            access.SYSTEM_ACTOR,
            when="the connector carried the recovery out",
        ),
        _t(
            "execution_failed",
            "Directory failed",
            {State.EXECUTING},
            [State.EXECUTION_FAILED],
            access.SYSTEM_ACTOR,
            when="the connector failed after its retries",
        ),
        _t(
            "retry_execution",
            "Retry on the directory",
            {State.EXECUTION_FAILED},
            [State.EXECUTING],
            access.ASSIGNED_AGENT,
            [guards.owner_active, guards.account_state_allows],
        ),
        _t(
            "abandon",
            "Abandon",
            {State.EXECUTION_FAILED},
            [State.ABANDONED],
            access.AGENT_OF_QUEUE,
            when="the directory cannot carry it out; the subject is told to open a new case",
        ),
        _t(
            "break_glass",
            "Break glass",
            {State.VERIFYING, State.AWAITING_APPROVAL, State.COOLING_OFF},
            [State.READY],
            access.REVIEWER,
            [guards.not_expired, guards.evidence_meets_policy],
            "written justification; skips approvals and the hold, never verification",
        ),
        _t(
            "gap_release",
            "Release the recovery gap",
            _OPEN_AND_IDLE,
            [],
            access.REVIEWER,
            [guards.not_gap_released, guards.not_expired],
            "a second recovery inside the policy's gap may go on",
        ),
        _t(
            "dispute",
            "Dispute",
            _OPEN_AND_IDLE,
            [State.CANCELLED],
            access.SUBJECT_ACTOR,
            when="'this was not me'",
        ),
        _t(
            "expire",
            "Expire",
            _OPEN_AND_IDLE,
            [State.EXPIRED],
            access.SYSTEM_ACTOR,
            [guards.deadline_passed],
            "expires_at has passed on the database's clock",
        ),
    )
}


def allowed_transitions(state: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if state in t.sources and t.moves]


def _state_refusal(case: RecoveryCase, transition: Transition) -> Refusal | None:
    if case.state in transition.sources:
        return None
    if case.state in TERMINAL_STATES:
        return Refusal(
            "closed", f"{case.reference} is closed ({case.get_state_display()}).", "state"
        )
    return Refusal(
        "wrong_state",
        f"{case.reference} is {case.get_state_display().lower()}; "
        f"'{transition.label.lower()}' is not possible from there.",
        "state",
    )


def refusal_for(case: RecoveryCase, name: str, actor, now: datetime) -> Refusal | None:
    """Why ``actor`` may not do ``name`` on ``case`` now, or None when they may.

    Checked in this order: the state, the actor, then the guards, so the first reason given
    is the one a person can do least about.
    """
    transition = TRANSITIONS[name]
    if refusal := _state_refusal(case, transition):
        return refusal
    if refusal := transition.actor.check(case, actor, now):
        return refusal
    for guard in transition.guards:
        if refusal := guard(case, actor, now):
            return refusal
    return None


def ensure_allowed(case: RecoveryCase, name: str, actor, now: datetime) -> None:
    """Raise the refusal (as the cases app's error) when the action is not allowed."""
    if refusal := refusal_for(case, name, actor, now):
        raise refusal.error()


def apply_transition(
    case: RecoveryCase,
    name: str,
    *,
    target: str,
    actor,
    now: datetime,
    update_fields: tuple[str, ...] = (),
    detail: dict | None = None,
) -> None:
    """Move a locked case along ``name`` to ``target``, save it, and write its audit event.

    The caller has checked the row with ``ensure_allowed``; this refuses anything the table
    does not list all the same. A move into a terminal state also stamps ``closed_at``.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("apply_transition must run inside the service's transaction.")
    transition = TRANSITIONS[name]
    old = case.state
    if old not in transition.sources or target not in transition.targets:
        raise TransitionNotAllowed(
            f"{case.reference} is {case.get_state_display().lower()}; "
            f"'{name}' is not possible from there.",
        )
    case.state = target
    if target in TERMINAL_STATES:
        case.closed_at = now
        update_fields = (*update_fields, "closed_at")
    case._transition_allowed = True
    try:
        case.save(update_fields=("state", *update_fields))
    finally:
        case._transition_allowed = False
    audit_record(
        actor=actor,
        action=f"case.{name}",
        case=case,
        old_state=old,
        new_state=target,
        detail=detail,
        at=now,
    )
