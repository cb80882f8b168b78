"""Trail exports: the same filtered set as the page, streamed, newest first; CSV that no
spreadsheet runs as a formula, JSON lines one valid object each; no secret; constant queries;
a cap that says where to continue."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import export
from audit.actions import Action
from audit.models import AuditEvent
from cases.states import State
from demo.builders import case_in, reject
from tests.cases.factories import make_agent
from tests.test_admin import _signed_in
from verification.models import Evidence

pytestmark = pytest.mark.django_db

CSV, JSONL = "admin:desk:trail_csv", "admin:desk:trail_jsonl"
ROLES = ("agent", "other_agent", "manager", "security_reviewer", "admin_user")


def _body(response) -> str:
    assert response.status_code == 200, response.content if not response.streaming else ""
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def _csv_rows(client, **params) -> list[dict]:
    return list(csv.DictReader(io.StringIO(_body(client.get(reverse(CSV), params)))))


def _jsonl(client, **params) -> list[dict]:
    text = _body(client.get(reverse(JSONL), params))
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _expected(**lookups) -> list[int]:
    events = AuditEvent.objects.filter(**lookups).order_by("-occurred_at", "-id")
    return list(events.values_list("id", flat=True))


@pytest.fixture
def reviewer_client(client, security_reviewer):
    return _signed_in(client, security_reviewer)


@pytest.fixture
def history(agent, other_agent, clock):
    clock.shift(timedelta(days=-2))
    first = case_in(State.COMPLETED, agent=agent)
    clock.shift(timedelta(days=2))
    second = case_in(State.VERIFYING, agent=other_agent)
    return first, second


@pytest.mark.parametrize("name", [CSV, JSONL])
@pytest.mark.parametrize("role", ROLES)
def test_only_security_reviewers_export(client, request, role, name):
    _signed_in(client, request.getfixturevalue(role))
    response = client.get(reverse(name))
    assert response.status_code == (200 if role == "security_reviewer" else 403)


def test_the_csv_holds_exactly_the_filtered_set_newest_first(reviewer_client, history):
    first, second = history
    rows = _csv_rows(reviewer_client, identity=second.subject.username)
    assert [int(r["id"]) for r in rows] == _expected(identity_id=second.subject_id)
    assert {r["case"] for r in rows} == {second.reference}
    assert {r["identity"] for r in rows} == {second.subject.username}
    everything = _csv_rows(reviewer_client)
    assert [int(r["id"]) for r in everything] == _expected()
    assert tuple(everything[0]) == export.COLUMNS


def test_the_jsonl_holds_exactly_the_filtered_set_newest_first(reviewer_client, history, agent):
    first, _ = history
    day = first.opened_at.date().isoformat()
    records = _jsonl(reviewer_client, actor="agent.alice", **{"from": day, "to": day})
    assert [r["id"] for r in records] == _expected(
        actor=agent, occurred_at__date=first.opened_at.date()
    )
    assert records
    for record in records:
        assert record["case_id"] == first.pk and record["summary"]
        assert isinstance(record["details"], list)
    claimed = _jsonl(reviewer_client, action=Action.CASE_CLAIM)
    assert [r["id"] for r in claimed] == _expected(action=Action.CASE_CLAIM)
    assert {r["summary"] for r in claimed} == {
        "agent.alice claimed the case",
        "agent.bob claimed the case",
    }


def test_exports_name_the_file_with_the_date(reviewer_client, history, clock):
    for name, extension in ((CSV, "csv"), (JSONL, "jsonl")):
        response = reviewer_client.get(reverse(name))
        disposition = response["Content-Disposition"]
        assert disposition == f'attachment; filename="recovery-desk-trail-2026-11-30.{extension}"'
        _body(response)


def test_csv_cells_that_would_run_as_a_formula_are_neutralised(reviewer_client, clock):
    sneaky = make_agent(username="=HYPERLINK(evil)")
    case = case_in(State.VERIFYING, agent=sneaky)
    reject(case, sneaky, reason="@SUM(A1) -2+3")
    rows = _csv_rows(reviewer_client, case=case.reference)
    actors = {row["actor"] for row in rows}
    assert actors == {"'=HYPERLINK(evil)"}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_safe_cell_covers_every_formula_start():
    for start in "=+-@\t\r":
        assert export.safe_cell(f"{start}1+1") == f"'{start}1+1"
    assert export.safe_cell("plain") == "plain"
    assert export.safe_cell(-3) == -3


@pytest.mark.parametrize(
    "params",
    [{"from": "not-a-date"}, {"action": "nope"}, {"case": "RC-ABC"}, {"identity": "x" * 10_000}],
)
@pytest.mark.parametrize("name", [CSV, JSONL])
def test_bad_filters_answer_400_never_the_whole_trail(reviewer_client, history, name, params):
    response = reviewer_client.get(reverse(name), params)
    assert response.status_code == 400
    assert not response.streaming


def test_an_unknown_identity_exports_nothing(reviewer_client, history):
    assert _csv_rows(reviewer_client, identity="nobody-here") == []
    assert _jsonl(reviewer_client, identity="nobody-here") == []


def test_no_secret_reaches_an_export(reviewer_client, agent):
    case = case_in(State.COMPLETED, agent=agent)
    keys = [
        e.authenticator.key
        for e in Evidence.objects.filter(case=case).select_related("authenticator")
        if e.authenticator is not None
    ]
    assert keys
    for name in (CSV, JSONL):
        body = _body(reviewer_client.get(reverse(name)))
        assert not any(key in body for key in keys)


def _export_queries(client, name) -> int:
    with CaptureQueriesContext(connection) as captured:
        _body(client.get(reverse(name)))
    return len(captured)


def test_exports_cost_the_same_queries_for_5_and_120_events(reviewer_client, agent):
    case_in(State.VERIFYING, agent=agent)
    few = {name: _export_queries(reviewer_client, name) for name in (CSV, JSONL)}
    while AuditEvent.objects.count() < 120:
        case_in(State.COMPLETED, agent=agent)
    many = {name: _export_queries(reviewer_client, name) for name in (CSV, JSONL)}
    assert many == few


def test_a_capped_export_says_where_to_continue(reviewer_client, agent):
    while AuditEvent.objects.count() < 12:
        case_in(State.COMPLETED, agent=agent)
    events = AuditEvent.objects.select_related("identity").order_by("-id")
    lines = list(export.csv_stream(events.iterator(), cap=5))
    ids = _expected()
    assert len(lines) == 7  # header, five rows, the note
    assert f"continue with before={ids[4]}" in lines[-1]
    records = [json.loads(line) for line in export.jsonl_stream(events.iterator(), cap=5)]
    assert [r["id"] for r in records[:5]] == ids[:5]
    assert records[-1] == {"truncated": True, "rows": 5, "continue_before": ids[4]}
    # continuing with the cursor gives the rest, with no gap and no repeat
    rest = _jsonl(reviewer_client, before=str(ids[4]))
    assert [r["id"] for r in rest] == ids[5:]
