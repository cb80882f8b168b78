"""The trail browser: security reviewers only; each filter narrows, newest first, keyset pages
with no gap and no repeat, bad input never a 500, and a page costs the same queries whatever
its size."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.actions import Action
from audit.models import AuditEvent
from cases.states import State
from demo.builders import case_in
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

TRAIL = "admin:desk:trail"
ROLES = ("agent", "other_agent", "manager", "security_reviewer", "admin_user")
EVENT_ID = re.compile(r'<tr id="event-(\d+)">')


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [int(i) for i in EVENT_ID.findall(response.content.decode())]


def _get(client, **params):
    return client.get(reverse(TRAIL), params)


def _expected(**lookups) -> list[int]:
    events = AuditEvent.objects.filter(**lookups).order_by("-occurred_at", "-id")
    return list(events.values_list("id", flat=True))


@pytest.fixture
def reviewer_client(client, security_reviewer):
    return _signed_in(client, security_reviewer)


@pytest.fixture
def history(agent, other_agent, clock):
    """Two subjects' cases worked by two agents, three days apart."""
    clock.shift(timedelta(days=-3))
    first = case_in(State.COMPLETED, agent=agent)
    clock.shift(timedelta(days=3))
    second = case_in(State.VERIFYING, agent=other_agent)
    third = case_in(State.REJECTED, agent=agent)
    return first, second, third


@pytest.mark.parametrize("role", ROLES)
def test_only_security_reviewers_open_the_trail(client, request, role):
    user = request.getfixturevalue(role)
    _signed_in(client, user)
    response = client.get(reverse(TRAIL))
    expected = 200 if role == "security_reviewer" else 403
    assert response.status_code == expected


def test_the_whole_trail_is_shown_newest_first(reviewer_client, history):
    assert _ids(_get(reviewer_client)) == _expected()


def test_newest_means_latest_in_time_even_when_recorded_later(reviewer_client, agent, clock):
    recent = case_in(State.VERIFYING, agent=agent)
    clock.shift(timedelta(days=-2))
    earlier = case_in(State.VERIFYING, agent=agent)  # recorded after, happened before
    assert _ids(_get(reviewer_client)) == _expected()
    ids = _ids(_get(reviewer_client, actor="agent.alice"))
    recent_ids = set(_expected(case=recent))
    assert set(ids[: len(recent_ids)]) == recent_ids
    assert set(ids[len(recent_ids) :]) == set(_expected(case=earlier))
    assert max(recent_ids) < min(ids[len(recent_ids) :])


def test_each_event_reads_as_a_sentence_with_a_link_to_its_case(reviewer_client, history):
    first, _, _ = history
    page = _get(reviewer_client, case=first.reference).content.decode()
    assert f'href="{reverse("admin:desk:case", args=[first.pk])}"' in page
    assert "agent.alice claimed the case" in page
    assert "The directory carried out the recovery" in page
    assert '{"' not in page  # no raw JSON


def test_the_case_filter_takes_a_reference_or_a_number(reviewer_client, history):
    first, _, _ = history
    expected = _expected(case_id=first.pk)
    assert expected
    assert _ids(_get(reviewer_client, case=first.reference)) == expected
    assert _ids(_get(reviewer_client, case=str(first.pk))) == expected
    assert _ids(_get(reviewer_client, case=first.reference.lower())) == expected


def test_the_identity_filter_takes_a_username_or_an_id(reviewer_client, history):
    _, second, _ = history
    expected = _expected(identity_id=second.subject_id)
    assert expected
    assert _ids(_get(reviewer_client, identity=second.subject.username)) == expected
    assert _ids(_get(reviewer_client, identity=str(second.subject_id))) == expected


def test_the_actor_filter_takes_a_staff_username_or_the_system(
    reviewer_client, history, agent, other_agent
):
    assert _ids(_get(reviewer_client, actor="agent.bob")) == _expected(actor=other_agent)
    assert _ids(_get(reviewer_client, actor="agent.alice")) == _expected(actor=agent)
    system = _expected(actor_kind="system")
    assert system  # the directory's outcome is the system's
    assert _ids(_get(reviewer_client, actor="system")) == system


def test_the_action_filter_narrows_to_one_action(reviewer_client, history):
    expected = _expected(action=Action.CASE_CLAIM)
    assert len(expected) == 3
    assert _ids(_get(reviewer_client, action=Action.CASE_CLAIM)) == expected


def test_the_date_range_takes_whole_days(reviewer_client, history):
    first, _, _ = history
    three_days_ago = (first.opened_at).date()
    only_then = {"from": three_days_ago.isoformat(), "to": three_days_ago.isoformat()}
    expected = _expected(case=first)
    assert _ids(_get(reviewer_client, **only_then)) == expected
    since_yesterday = (three_days_ago + timedelta(days=2)).isoformat()
    assert _ids(_get(reviewer_client, **{"from": since_yesterday})) == _expected(
        occurred_at__date__gte=three_days_ago + timedelta(days=2)
    )
    assert set(_ids(_get(reviewer_client, to=three_days_ago.isoformat()))) == set(expected)


def test_filters_combine(reviewer_client, history, agent):
    _, _, third = history
    today = third.opened_at.date().isoformat()
    ids = _ids(
        _get(
            reviewer_client,
            actor="agent.alice",
            action=Action.CASE_CLAIM,
            **{"from": today, "to": today},
        )
    )
    assert ids == _expected(actor=agent, action=Action.CASE_CLAIM, case=third)
    assert len(ids) == 1


def test_an_unknown_identity_or_actor_says_so_and_shows_nothing(reviewer_client, history):
    response = _get(reviewer_client, identity="nobody-here")
    assert _ids(response) == []
    assert "No identity has the username or id" in response.content.decode()
    response = _get(reviewer_client, actor="nobody.here")
    assert _ids(response) == []
    assert "No staff member has the username" in response.content.decode()
    response = _get(reviewer_client, actor="subject")
    assert _ids(response) == []
    assert "disputes: filter by that action" in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-45"},
        {"to": "yesterday"},
        {"from": "2026-11-30", "to": "2026-11-01"},
        {"action": "case.delete_everything"},
        {"case": "RC-12AB"},
        {"case": "'; DROP TABLE audit_auditevent; --"},
        {"identity": "x" * 10_000},
        {"actor": "y" * 10_000},
        {"case": "9" * 10_000},
        {"before": "-4"},
        {"before": "not-a-number"},
        {"before": "9" * 40},
        {"to": "9999-12-31"},
        {"from": "0001-01-01"},
    ],
)
def test_bad_filters_answer_400_with_a_sentence_and_no_rows(reviewer_client, history, params):
    response = _get(reviewer_client, **params)
    assert response.status_code == 400
    page = response.content.decode()
    assert "These filters could not be used; nothing is shown." in page
    assert EVENT_ID.findall(page) == []


def test_a_case_number_nobody_holds_shows_nothing(reviewer_client, history):
    assert _ids(_get(reviewer_client, case="RC-999999")) == []


def test_older_pages_follow_by_id_with_no_gap_and_no_repeat(reviewer_client, agent):
    while AuditEvent.objects.count() < 120:  # three pages
        case_in(State.COMPLETED, agent=agent)
    seen: list[int] = []
    url: str | None = reverse(TRAIL)
    pages = 0
    while url:
        response = reviewer_client.get(url)
        ids = _ids(response)
        assert len(ids) <= 50
        seen += ids
        pages += 1
        older = re.search(r'<a href="([^"]+)" rel="next">', response.content.decode())
        url = older.group(1).replace("&amp;", "&") if older else None
    assert pages == 3
    assert seen == _expected()


def test_paging_keeps_the_filter(reviewer_client, agent, other_agent):
    while AuditEvent.objects.filter(actor=agent).count() <= 50:
        case_in(State.COMPLETED, agent=agent)
    case_in(State.COMPLETED, agent=other_agent)
    first = reviewer_client.get(reverse(TRAIL), {"actor": "agent.alice"})
    older = re.search(r'<a href="([^"]+)" rel="next">', first.content.decode())
    assert older and "actor=agent.alice" in older.group(1)
    second = reviewer_client.get(older.group(1).replace("&amp;", "&"))
    assert _ids(first) + _ids(second) == _expected(actor=agent)


def _queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, **params)
    assert response.status_code == 200
    return len(captured)


def test_a_page_costs_the_same_queries_for_5_and_120_events(reviewer_client, agent):
    before = AuditEvent.objects.count()  # the migrations' policy.update events
    case = case_in(State.VERIFYING, agent=agent)  # about 5 events
    few_events = AuditEvent.objects.count() - before
    assert AuditEvent.objects.count() < 50  # one page holds them all
    few = _queries(reviewer_client)
    few_filtered = _queries(reviewer_client, identity=case.subject.username, actor="agent.alice")
    while AuditEvent.objects.count() < 120:
        case_in(State.COMPLETED, agent=agent)
    assert few_events <= 6
    assert _queries(reviewer_client) == few
    assert (
        _queries(reviewer_client, identity=case.subject.username, actor="agent.alice")
        == few_filtered
    )
    assert few_filtered == few + 2  # one indexed lookup each for the identity and the actor


def test_no_secret_reaches_the_page(reviewer_client, agent):
    from verification.models import Evidence

    case = case_in(State.COMPLETED, agent=agent)
    page = _get(reviewer_client, case=case.reference).content.decode()
    evidence = Evidence.objects.filter(case=case).select_related("authenticator").first()
    assert evidence is not None and evidence.authenticator is not None
    assert evidence.authenticator.key not in page


@pytest.mark.parametrize("value", ["²", "٣", "1²"])
def test_digits_that_are_not_ascii_never_crash_the_trail_or_its_exports(client, value, request):
    reviewer = request.getfixturevalue("security_reviewer")
    _signed_in(client, reviewer)
    for url in (
        "/admin/desk/trail/",
        "/admin/desk/trail/export.csv",
        "/admin/desk/trail/export.jsonl",
    ):
        for name in ("identity", "case"):
            assert client.get(url, {name: value}).status_code in (200, 400)
