"""Reads of the audit trail (docs/design.md "One event path").

``trail_events(filters)`` is the one query behind the trail page and both exports, so what a
reviewer sees and what they export are the same set. Newest first: by ``occurred_at``, then
by ``id`` (the append order) among events of the same instant, so the order is total and a
keyset cursor (the id of the last event shown) pages through it with no gap and no repeat.

Every filter has an index that serves it in that order (audit/migrations/0004):
``(identity, occurred_at, id)``, ``(actor, occurred_at, id)``, ``(action, occurred_at, id)``
and ``(occurred_at, id)``, so "the newest 51 events of X between two days" is one backward
index range scan that stops after 51 rows, whatever the size of the trail. A case's events
(``(case, id)``) are few enough to sort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Expression, Field, Q, QuerySet, Subquery

from .actions import Action, ActorKind
from .models import AuditEvent


def audit_events_for_case(*, case) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(case=case).select_related("actor").order_by("id")


@dataclass(frozen=True)
class TrailFilters:
    """What the trail is narrowed to. Ids are resolved already (one indexed lookup each, in
    the view), so the trail query itself joins nothing to filter. ``system`` narrows to the
    system's own events (no user row). ``since`` is inclusive, ``until`` exclusive;
    ``before`` is the keyset cursor: the id of the last event already shown, so only events
    after it in trail order (older, or as old with a smaller id) remain."""

    case_id: int | None = None
    identity_id: int | None = None
    actor_id: int | None = None
    system: bool = False
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None


TRAIL_ORDER = ("-occurred_at", "-id")


class _Literal(Expression):
    """A value written into the SQL text instead of bound as a parameter (see
    ``trail_events``); only ever built from an ``Action`` member or an ``int``."""

    def __init__(self, sql: str, output_field: Field) -> None:
        super().__init__(output_field=output_field)
        self.sql = sql

    def as_sql(self, compiler, connection):
        return self.sql, []


def _action_literal(action: str) -> _Literal:
    value = Action(action).value  # ValueError for anything outside the enumeration
    if not re.fullmatch(r"[a-z_.]+", value):  # pragma: no cover - the enumeration's shape
        raise ValueError(value)
    return _Literal(f"'{value}'", AuditEvent._meta.get_field("action"))


def _id_literal(value: int) -> _Literal:
    return _Literal(str(int(value)), AuditEvent._meta.get_field("id"))


def _latest_time(**lookups) -> Subquery:
    """The time of the newest event matching ``lookups``: one step down an index."""
    return Subquery(
        AuditEvent.objects.filter(**lookups).order_by("-occurred_at").values("occurred_at")[:1]
    )


def trail_events(filters: TrailFilters) -> QuerySet[AuditEvent]:
    """Audit events matching ``filters``, newest first (``TRAIL_ORDER``), with the identity
    joined for its username (a primary-key join, one row each). Never counted: slice it (a
    page) or iterate it (an export). The actor needs no join: ``actor_label`` is what the
    trail shows.

    Planned for the worst value, not the average one. The action and the actor have few
    distinct values, so a statement prepared with them as parameters
    (``DATABASE_PREPARE_THRESHOLD``) gets one plan for all values, made for a frequent one:
    walk ``(occurred_at, id)`` down and skip the rest, which for a rare action or a staff
    member gone for a year reads the whole trail. So both are written into the SQL as
    literals (each value its own statement, planned from its own statistics), and the walk
    starts at the newest event of that action or actor (a subquery, one index step): an
    exact bound that makes either plan stop within its first pages. The identity and the case
    have too many values for that to matter and stay parameters.

    The cursor's time is read by a subquery too, in the same statement: ``occurred_at <= t``
    bounds the index range scan, ``occurred_at < t OR id < cursor`` drops the few events of
    that same instant already shown. An id that is not an event's matches nothing.
    """
    events = AuditEvent.objects.all()
    if filters.case_id is not None:
        events = events.filter(case_id=filters.case_id)
    if filters.identity_id is not None:
        events = events.filter(identity_id=filters.identity_id)
    if filters.actor_id is not None:
        actor = _id_literal(filters.actor_id)
        events = events.filter(actor_id=actor, occurred_at__lte=_latest_time(actor_id=actor))
    elif filters.system:
        events = events.filter(actor__isnull=True, actor_kind=ActorKind.SYSTEM)
    if filters.action:
        action = _action_literal(filters.action)
        events = events.filter(action=action, occurred_at__lte=_latest_time(action=action))
    if filters.since is not None:
        events = events.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(occurred_at__lt=filters.until)
    if filters.before is not None:
        cursor_at = Subquery(AuditEvent.objects.filter(pk=filters.before).values("occurred_at")[:1])
        events = events.filter(occurred_at__lte=cursor_at).filter(
            Q(occurred_at__lt=cursor_at) | Q(id__lt=filters.before)
        )
    return (
        events.select_related("identity")
        .only(
            "id",
            "occurred_at",
            "actor_id",
            "actor_kind",
            "actor_label",
            "action",
            "case_id",
            "old_state",
            "new_state",
            "detail",
            "identity",
            "identity__username",
        )
        .order_by(*TRAIL_ORDER)
    )


def trail_page(filters: TrailFilters, *, size: int) -> tuple[list[AuditEvent], int | None]:
    """One page of the trail and the cursor of the next (older) page, or None when this is
    the last: ``size + 1`` rows are read to know, one query, no COUNT."""
    rows = list(trail_events(filters)[: size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].pk
    return rows, None
