"""THE transition table of a recovery case: what may happen in each state, and who may do it.

Single source of truth (DESIGN.md "The case lifecycle"). Services decide *whether* a move is
allowed right now (guards on the locked row and the clock); ``apply_transition`` refuses any
move this table does not list, saves the state and writes the one audit event.
``manage.py case_diagram`` renders this table as the Mermaid diagram in docs/.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record

from .errors import TransitionNotAllowed
from .models import RecoveryCase
from .states import OPEN_STATES, TERMINAL_STATES, State


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    targets: tuple[str, ...]
    actor: str
    when: str


def _t(name, sources, targets, actor, when) -> Transition:
    return Transition(name, frozenset(sources), tuple(targets), actor, when)


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t("claim", {State.NEW}, [State.VERIFYING], "agent of the queue", "unassigned"),
        _t(
            "verify",
            {State.VERIFYING},
            [State.AWAITING_APPROVAL, State.COOLING_OFF, State.READY],
            "assigned agent",
            "evidence meets the pinned policy; later steps the policy skips are skipped",
        ),
        _t(
            "escalate",
            {State.VERIFYING},
            [State.ESCALATED],
            "system",
            "too many failed evidence checks",
        ),
        _t("release", {State.ESCALATED}, [State.VERIFYING], "security reviewer", "reviewed"),
        _t(
            "approve",
            {State.AWAITING_APPROVAL},
            [State.COOLING_OFF, State.READY],
            "approver of the queue",
            "the N-th distinct valid approval",
        ),
        _t(
            "reject",
            {State.VERIFYING, State.ESCALATED, State.AWAITING_APPROVAL},
            [State.REJECTED],
            "assigned agent, security reviewer if escalated, approver by denying",
            "evidence failed, fraud suspected, or approval denied",
        ),
        _t("end_hold", {State.COOLING_OFF}, [State.READY], "system", "hold_until has passed"),
        _t("execute", {State.READY}, [State.COMPLETED], "assigned agent", "hold has passed"),
        _t(
            "break_glass",
            {State.VERIFYING, State.AWAITING_APPROVAL, State.COOLING_OFF},
            [State.READY],
            "security reviewer",
            "written justification; mandatory post-event review",
        ),
        _t("dispute", OPEN_STATES, [State.CANCELLED], "subject", "'this was not me'"),
        _t("expire", OPEN_STATES, [State.EXPIRED], "system", "expires_at has passed"),
    )
}


def allowed_transitions(state: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if state in t.sources]


def apply_transition(
    case: RecoveryCase,
    name: str,
    *,
    target: str,
    actor,
    update_fields: tuple[str, ...] = (),
    detail: dict | None = None,
) -> None:
    """Move a locked case along ``name`` to ``target``, save it, and write its audit event.

    A move into a terminal state also stamps ``closed_at``.
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
        case.closed_at = timezone.now()
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
    )
