"""The trail browser: audit events filtered by case, identity, actor, action and dates, newest
first, fifty a page, with the same filtered set exported as CSV or JSON lines.

Security reviewers only. Every filter is resolved to ids before the trail is read (an identity
or actor is one lookup on a unique column), then ``audit.selectors.trail_events`` reads one
page with one query: keyset paging by id (``before``), never OFFSET, never COUNT. A filter
that does not parse answers 400 with its sentence and no rows, never the unfiltered trail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit import export
from audit.actions import Action, ActorKind
from audit.describe import action_label, describe, detail_items
from audit.selectors import TrailFilters, trail_events, trail_page
from directory.models import Identity
from recovery_desk import clock
from recovery_desk.admin_tools import is_row_id

from .. import access
from .base import render_page

PAGE_SIZE = 50
# Rows a streamed export reads per round trip (a server-side cursor on PostgreSQL).
EXPORT_CHUNK = 2000
CASE_REFERENCE = re.compile(r"(?:RC-?)?0*([0-9]{1,12})", re.IGNORECASE)
FIRST_YEAR, LAST_YEAR = 1970, 9998  # so a day's end never overflows a date
FILTER_NAMES = ("case", "identity", "actor", "action", "from", "to")


class TrailForm(forms.Form):
    """The GET filters. Field lengths bound what is parsed; ``from``/``to`` are added in
    ``__init__`` because ``from`` is a Python keyword."""

    case = forms.CharField(
        required=False,
        max_length=20,
        label="Case",
        widget=forms.TextInput(attrs={"placeholder": "RC-000123", "size": 12}),
    )
    identity = forms.CharField(
        required=False,
        max_length=150,
        label="Identity",
        widget=forms.TextInput(attrs={"placeholder": "username or id", "size": 18}),
    )
    actor = forms.CharField(
        required=False,
        max_length=150,
        label="Actor",
        help_text="A staff username, or system.",
        widget=forms.TextInput(attrs={"placeholder": "staff username", "size": 16}),
    )
    action = forms.ChoiceField(
        required=False,
        label="Action",
        choices=[("", "Any action"), *Action.choices],
        error_messages={"invalid_choice": "Choose an action from the list."},
    )
    before = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        date_input = {"type": "date"}
        self.fields["from"] = forms.DateField(
            required=False,
            label="From",
            widget=forms.DateInput(attrs=date_input, format="%Y-%m-%d"),
            error_messages={"invalid": "Give the first day as a date (YYYY-MM-DD)."},
        )
        self.fields["to"] = forms.DateField(
            required=False,
            label="To",
            widget=forms.DateInput(attrs=date_input, format="%Y-%m-%d"),
            error_messages={"invalid": "Give the last day as a date (YYYY-MM-DD)."},
        )

    def clean_case(self) -> int | None:
        value = self.cleaned_data["case"]
        if not value:
            return None
        match = CASE_REFERENCE.fullmatch(value)
        if match is None:
            raise forms.ValidationError("Give a case reference such as RC-000123, or its number.")
        return int(match.group(1))

    def clean(self):
        data = super().clean() or {}
        first, last = data.get("from"), data.get("to")
        for day in (first, last):
            if day and not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise forms.ValidationError(
                    f"Give dates between {FIRST_YEAR} and {LAST_YEAR}, not {day.year}."
                )
        if first and last and first > last:
            raise forms.ValidationError("The first day comes after the last day.")
        return data


@dataclass
class Narrowed:
    """The filters as the trail query takes them, or why nothing can match."""

    filters: TrailFilters | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def bad(self) -> bool:
        return bool(self.problems)


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _resolve_identity(value: str) -> int | None:
    """One indexed lookup: the identity whose username is ``value`` or, for a number, whose id
    it is (a username match wins)."""
    query = Q(username=value)
    if is_row_id(value):
        query |= Q(pk=int(value))
    found = list(Identity.objects.filter(query).values_list("pk", "username")[:2])
    for pk, username in found:
        if username == value:
            return pk
    return found[0][0] if found else None


def _resolve_actor(value: str) -> tuple[int | None, bool]:
    """``(user id, False)`` for a staff username; ``(None, True)`` for "system"."""
    if value.lower() == ActorKind.SYSTEM:
        return None, True
    user_model = get_user_model()
    pk = (
        user_model._default_manager.filter(**{user_model.USERNAME_FIELD: value})
        .values_list("pk", flat=True)
        .first()
    )
    return pk, False


def narrow(query: QueryDict) -> Narrowed:
    """Parse and resolve the GET filters. Bad input gives problems (the caller answers 400 and
    shows no rows); a well-formed name nobody holds gives a note and ``filters=None`` (nothing
    can match, so the trail is not read at all)."""
    form = TrailForm(query)
    if not form.is_valid():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        return Narrowed(None, problems=problems or ["Those filters could not be read."])
    data = form.cleaned_data
    params = {name: query.get(name, "").strip() for name in FILTER_NAMES if query.get(name)}
    notes: list[str] = []
    identity_id = actor_id = None
    system = False
    case_id = data["case"]
    if data["identity"].strip():
        value = data["identity"].strip()
        identity_id = _resolve_identity(value)
        if identity_id is None:
            notes.append(f"No identity has the username or id “{value}”.")
    if data["actor"].strip():
        value = data["actor"].strip()
        actor_id, system = _resolve_actor(value)
        if actor_id is None and not system:
            hint = (
                " The subject\u2019s own events are disputes: filter by that action."
                if value.lower() == ActorKind.SUBJECT
                else ""
            )
            notes.append(f"No staff member has the username “{value}”.{hint}")
    if notes:
        return Narrowed(None, notes=notes, params=params)
    until = _day_start(data["to"] + timedelta(days=1)) if data["to"] else None
    filters = TrailFilters(
        case_id=case_id,
        identity_id=identity_id,
        actor_id=actor_id,
        system=system,
        action=data["action"] or None,
        since=_day_start(data["from"]) if data["from"] else None,
        until=until,
        before=data["before"],
    )
    return Narrowed(filters, params=params)


@dataclass(frozen=True)
class Row:
    id: int
    occurred_at: datetime
    case_id: int | None
    reference: str
    identity: str
    actor: str
    action: str
    summary: str
    details: list[tuple[str, str]]


def _row(event) -> Row:
    return Row(
        id=event.pk,
        occurred_at=event.occurred_at,
        case_id=event.case_id,
        reference=export.case_reference(event.case_id),
        identity=export.identity_name(event),
        actor=event.actor_label,
        action=action_label(event.action),
        summary=describe(event),
        details=detail_items(event),
    )


def _with_query(name: str, params: dict[str, str]) -> str:
    url = reverse(f"admin:desk:{name}")
    return f"{url}?{urlencode(params)}" if params else url


def trail(request):
    access.require_reviewer(request)
    narrowed = narrow(request.GET)
    rows: list[Row] = []
    older = None
    if narrowed.filters is not None:
        events, cursor = trail_page(narrowed.filters, size=PAGE_SIZE)
        rows = [_row(event) for event in events]
        if cursor is not None:
            older = _with_query("trail", {**narrowed.params, "before": str(cursor)})
    context = {
        "form": TrailForm(request.GET) if request.GET else TrailForm(),
        "rows": rows,
        "problems": narrowed.problems,
        "notes": narrowed.notes,
        "filtered": bool(narrowed.params),
        "paged": narrowed.filters is not None and narrowed.filters.before is not None,
        "older": older,
        "newest": _with_query("trail", narrowed.params),
        "csv_url": _with_query("trail_csv", narrowed.params),
        "jsonl_url": _with_query("trail_jsonl", narrowed.params),
        "clear_url": reverse("admin:desk:trail"),
        "page_size": PAGE_SIZE,
    }
    return render_page(
        request, "desk/trail.html", context, title="Trail", status=400 if narrowed.bad else 200
    )


def _export(request, *, extension: str, content_type: str, stream: Callable[..., Iterator[str]]):
    """The filtered set, newest first, streamed in chunks; past ``export.MAX_ROWS`` the last
    line names the ``before`` cursor that continues it. Bad filters answer 400 with the reason;
    a name nobody holds gives an empty file (a header only, for CSV)."""
    access.require_reviewer(request)
    narrowed = narrow(request.GET)
    if narrowed.bad:
        return HttpResponse(
            " ".join(narrowed.problems), status=400, content_type="text/plain; charset=utf-8"
        )
    events = (
        trail_events(narrowed.filters).iterator(chunk_size=EXPORT_CHUNK)
        if narrowed.filters is not None
        else iter(())
    )
    response = StreamingHttpResponse(stream(events), content_type=content_type)
    filename = f"recovery-desk-trail-{clock.now():%Y-%m-%d}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def trail_csv(request):
    """CSV of the filtered trail, newest first (see ``_export``)."""
    return _export(
        request, extension="csv", content_type="text/csv; charset=utf-8", stream=export.csv_stream
    )


def trail_jsonl(request):
    """JSON lines of the filtered trail, newest first, one object per event (see ``_export``)."""
    return _export(
        request,
        extension="jsonl",
        content_type="application/x-ndjson; charset=utf-8",
        stream=export.jsonl_stream,
    )


def urls(wrap) -> list:
    return [
        path("trail/", wrap(trail), name="trail"),
        path("trail/export.csv", wrap(trail_csv), name="trail_csv"),
        path("trail/export.jsonl", wrap(trail_jsonl), name="trail_jsonl"),
    ]
