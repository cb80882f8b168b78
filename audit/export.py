"""Rows of a trail export (the trail browser's CSV and JSON lines; docs/design.md "One event
path"). Pure shaping of event rows already read by ``audit.selectors.trail_events``: no
queries, no secrets (the readable details come from ``audit.describe``, which withholds
anything that looks like one), and CSV cells a spreadsheet will not run as a formula.

Both streams are capped at ``MAX_ROWS``. A trail of millions of events exported in one request
would hold a web worker and a database cursor for minutes; past the cap the last line says so
and names the ``before`` cursor that continues the export where it stopped (the same keyset
the trail page pages with), so nothing is silently cut and nothing is ever counted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .describe import action_label, describe, detail_items, redacted
from .models import AuditEvent

MAX_ROWS = 100_000

COLUMNS = (
    "id",
    "occurred_at",
    "case",
    "identity",
    "actor",
    "actor_kind",
    "action",
    "action_label",
    "old_state",
    "new_state",
    "summary",
    "details",
)

# OWASP "CSV injection": a cell starting with one of these is read as a formula by
# spreadsheets; a leading apostrophe makes it text. Tab and carriage return start DDE tricks.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def case_reference(case_id: int | None) -> str:
    return f"RC-{case_id:06d}" if case_id is not None else ""


def identity_name(event: AuditEvent) -> str:
    """The identity's username when the query joined it (``trail_events`` does), else its
    id: shaping a row never queries."""
    if event.identity_id is None:
        return ""
    identity = event.identity if AuditEvent.identity.is_cached(event) else None
    return identity.username if identity is not None else str(event.identity_id)


def row_of(event: AuditEvent) -> dict[str, Any]:
    """One event as a flat record: what both exports write."""
    return {
        "id": event.pk,
        "occurred_at": event.occurred_at.isoformat(),
        "case": case_reference(event.case_id),
        "identity": identity_name(event),
        "actor": event.actor_label,
        "actor_kind": event.actor_kind,
        "action": event.action,
        "action_label": action_label(event.action),
        "old_state": event.old_state,
        "new_state": event.new_state,
        "summary": describe(event),
        "details": "; ".join(f"{label}: {value}" for label, value in detail_items(event)),
    }


def safe_cell(value: Any) -> Any:
    """``value`` for a CSV cell: text a spreadsheet would run as a formula gets a leading
    apostrophe; numbers and everything else pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_line(cells: Iterable[Any]) -> str:
    """One CSV line (RFC 4180 quoting, CRLF end), every cell made safe."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue()


def jsonl_record(event: AuditEvent) -> dict[str, Any]:
    """One event for JSON lines: the flat record with its details as labelled pairs, the case
    and identity ids, and the detail as structured data, secret-looking values withheld."""
    record = row_of(event)
    record["case_id"] = event.case_id
    record["identity_id"] = event.identity_id
    record["details"] = [{"label": label, "value": value} for label, value in detail_items(event)]
    record["detail"] = redacted(event.detail)
    return record


def jsonl_line(record: dict[str, Any]) -> str:
    return json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True) + "\n"


def _capped(events: Iterable[AuditEvent], cap: int) -> Iterator[tuple[AuditEvent | None, int]]:
    """Each event up to ``cap``; then, if more remain, ``(None, id of the last one written)``."""
    last = None
    for written, event in enumerate(events):
        if written == cap:
            yield None, last if last is not None else event.pk + 1
            return
        last = event.pk
        yield event, written


def csv_stream(events: Iterable[AuditEvent], *, cap: int = MAX_ROWS) -> Iterator[str]:
    """The header, then one line per event; past ``cap`` a last line naming the cursor."""
    yield csv_line(COLUMNS)
    for event, cursor in _capped(events, cap):
        if event is None:
            yield csv_line([f"# truncated after {cap} rows; continue with before={cursor}"])
            return
        row = row_of(event)
        yield csv_line(row[column] for column in COLUMNS)


def jsonl_stream(events: Iterable[AuditEvent], *, cap: int = MAX_ROWS) -> Iterator[str]:
    """One JSON object per line; past ``cap`` a last object ``{"truncated": true, ...}``."""
    for event, cursor in _capped(events, cap):
        if event is None:
            yield jsonl_line({"truncated": True, "rows": cap, "continue_before": cursor})
            return
        yield jsonl_line(jsonl_record(event))
