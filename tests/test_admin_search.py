"""Bounded search on every staff list (issue #13): a limit on words and length, indexed lookups
instead of LIKE over many columns, and a statement timeout on PostgreSQL that answers a 503
page, never a 500 or a minutes-long scan."""

import pytest
from django.contrib import admin
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from cases.admin import RecoveryCaseAdmin
from cases.models import RecoveryCase
from directory.models import Identity
from recovery_desk.admin_tools import SEARCH_MAX_LENGTH, SEARCH_MAX_TERMS, BoundedListAdmin
from tests.cases.builders import open_case
from tests.directory.factories import IdentityFactory
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = connection.vendor == "postgresql"
postgresql_only = pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL only")


def _searchable_lists() -> list[str]:
    return [
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model, model_admin in admin.site._registry.items()
        if model_admin.search_fields
    ]


SEARCHABLE = _searchable_lists()
OURS = ("cases", "directory", "verification", "approvals", "audit")


def _list(client, url: str, query: str):
    response = client.get(url, {"q": query})
    assert response.status_code == 200, url
    return response


def _references(response) -> list[str]:
    return [case.reference for case in response.context["cl"].result_list]


def test_every_list_is_bounded_and_ours_search_only_indexed_lookups():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, BoundedListAdmin), model
        if model._meta.app_label in OURS and model_admin.search_fields:
            assert model_admin.search_by, f"{model} searches with LIKE over its search fields"
    assert {"/admin/cases/recoverycase/", "/admin/directory/identity/"} <= set(SEARCHABLE)
    assert "/admin/auth/user/" in SEARCHABLE  # the libraries' lists too


@pytest.mark.parametrize("url", SEARCHABLE)
def test_a_search_of_1100_words_is_a_message_and_an_empty_list_in_few_queries(
    client, admin_user, url
):
    """The issue's 500 (SQLite: "Expression tree is too large") and 172 s (PostgreSQL)."""
    _signed_in(client, admin_user)
    with CaptureQueriesContext(connection) as plain:
        client.get(url)
    words = " ".join(f"word{n}" for n in range(1100))
    with CaptureQueriesContext(connection) as searched:
        response = _list(client, url, words)
    assert "That search is too long." in response.content.decode()
    assert list(response.context["cl"].result_list) == []
    assert len(searched) <= len(plain)


@pytest.mark.parametrize("url", SEARCHABLE)
def test_a_search_of_one_10_kb_word_is_a_message(client, admin_user, url):
    _signed_in(client, admin_user)
    response = _list(client, url, "x" * 10_000)
    assert "That search is too long." in response.content.decode()


def test_a_search_of_too_many_short_words_is_a_message(client, admin_user):
    _signed_in(client, admin_user)
    words = " ".join("ab" for _ in range(SEARCH_MAX_TERMS + 1))
    assert len(words) <= SEARCH_MAX_LENGTH
    response = _list(client, "/admin/cases/recoverycase/", words)
    assert "That search has too many words." in response.content.decode()


@pytest.mark.parametrize("url", SEARCHABLE)
def test_a_search_with_control_characters_is_a_message(client, admin_user, url):
    """PostgreSQL refuses NUL in a string literal (Django's search form refuses it first)."""
    _signed_in(client, admin_user)
    assert "Null characters are not allowed." in _list(client, url, "alice\x00").content.decode()
    page = _list(client, url, "alice\x01bob").content.decode()
    assert "A search cannot contain control characters." in page


def test_a_case_is_found_by_its_reference_or_its_number(client, admin_user, agent):
    wanted, other = open_case(opener=agent), open_case(opener=agent)
    _signed_in(client, admin_user)
    for query in (wanted.reference, wanted.reference.lower(), str(wanted.pk), f"RC{wanted.pk}"):
        assert _references(_list(client, "/admin/cases/recoverycase/", query)) == [
            wanted.reference
        ], query
    assert other.reference not in _references(
        _list(client, "/admin/cases/recoverycase/", wanted.reference)
    )


def test_a_case_is_found_by_the_start_of_its_subjects_username_or_employee_id(
    client, admin_user, agent
):
    zed = IdentityFactory(username="zed.kowalski", employee_id="EMP-7781")
    wanted = open_case(opener=agent, subject=zed)
    open_case(opener=agent)
    _signed_in(client, admin_user)
    for query in ("zed.k", "ZED.KOW", "emp-77", "zed.kowalski"):
        assert _references(_list(client, "/admin/cases/recoverycase/", query)) == [
            wanted.reference
        ], query
    assert _references(_list(client, "/admin/cases/recoverycase/", "kowalski")) == []


def test_a_case_is_found_by_the_start_of_its_ticket_id(client, admin_user, agent):
    wanted = open_case(opener=agent, external_ticket="INC-204518")
    open_case(opener=agent, external_ticket="INC-999")
    _signed_in(client, admin_user)
    assert _references(_list(client, "/admin/cases/recoverycase/", "inc-2045")) == [
        wanted.reference
    ]


def test_every_word_must_match(client, admin_user, agent):
    zed = IdentityFactory(username="zed.kowalski")
    wanted = open_case(opener=agent, subject=zed, external_ticket="INC-1")
    open_case(opener=agent, subject=IdentityFactory(username="zed.other"), external_ticket="X")
    _signed_in(client, admin_user)
    response = _list(client, "/admin/cases/recoverycase/", "zed INC-1")
    assert _references(response) == [wanted.reference]


def test_identities_are_found_by_the_start_of_username_employee_id_or_name(client, admin_user):
    IdentityFactory(username="zed.kowalski", employee_id="EMP-7781", display_name="Zed Kowalski")
    IdentityFactory(username="amy.pond", employee_id="EMP-1000")
    _signed_in(client, admin_user)
    for query in ("zed", "EMP-77", "zed kow"[:3], '"Zed Kow"'):
        response = _list(client, "/admin/directory/identity/", query)
        assert [i.username for i in response.context["cl"].result_list] == ["zed.kowalski"]


def test_evidence_approvals_and_the_trail_are_found_by_case_reference(
    client, clock, admin_user, agent, manager
):
    from approvals.services import approval_grant
    from tests.helpers import awaiting_approval_case

    wanted = awaiting_approval_case(agent=agent)
    approval_grant(case=wanted, approver=manager, reason="Checked the evidence")
    other = awaiting_approval_case(agent=agent)
    _signed_in(client, admin_user)
    for url in (
        "/admin/verification/evidence/",
        "/admin/approvals/approval/",
        "/admin/audit/auditevent/",
    ):
        rows = _list(client, url, wanted.reference).context["cl"].result_list
        assert rows and {row.case_id for row in rows} == {wanted.pk}, url
    opened = _list(client, "/admin/audit/auditevent/", "case.open").context["cl"].result_list
    assert {event.case_id for event in opened} == {wanted.pk, other.pk}
    approvals = _list(client, "/admin/approvals/approval/", manager.username[:7])
    assert [a.case_id for a in approvals.context["cl"].result_list] == [wanted.pk]


def test_a_word_that_stands_for_too_many_people_says_so(client, admin_user, agent, monkeypatch):
    from recovery_desk import admin_tools

    monkeypatch.setattr(admin_tools, "PEOPLE_PER_TERM", 2)
    for n in range(3):
        open_case(opener=agent, subject=IdentityFactory(username=f"many.{n}"))
    _signed_in(client, admin_user)
    response = _list(client, "/admin/cases/recoverycase/", "many")
    assert "More than 2 people match “many”" in response.content.decode()
    assert len(response.context["cl"].result_list) == 2


def _plan(queryset) -> str:
    if ON_POSTGRESQL:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is read whole
    return queryset.explain()


@pytest.mark.parametrize(
    ("queryset", "index"),
    [
        (lambda: RecoveryCase.objects.filter(external_ticket__istartswith="INC-2"), "case_ticket"),
        (lambda: Identity.objects.filter(username__istartswith="zed"), "identity_username"),
        (lambda: Identity.objects.filter(employee_id__istartswith="E1"), "identity_employee"),
    ],
)
def test_the_prefix_lookups_are_served_by_an_index(queryset, index):
    """Cases migration 0008 and directory migration 0002 add these as SQL the models do not
    list; SQLite drops such an index when a later migration rebuilds the table."""
    assert index in _plan(queryset())


def test_a_search_is_one_indexed_query_per_word_plus_the_list(client, admin_user, agent):
    open_case(opener=agent, external_ticket="INC-1")
    _signed_in(client, admin_user)
    with CaptureQueriesContext(connection) as plain:
        client.get("/admin/cases/recoverycase/")
    with CaptureQueriesContext(connection) as searched:
        _list(client, "/admin/cases/recoverycase/", "inc-1 subject")
    assert len(searched) == len(plain) + 2  # the people matching each word, looked up first
    assert not any("%inc-1%" in q["sql"].lower() for q in searched.captured_queries)


def test_the_case_list_reads_newest_first_by_its_primary_key():
    assert RecoveryCaseAdmin.ordering == ("-pk",)


# --- the statement timeout (PostgreSQL) ------------------------------------------------------


def test_a_cancelled_statement_answers_a_503_page_with_a_sentence(client, admin_user, monkeypatch):
    """On any database: what the middleware does with PostgreSQL's QueryCanceled (57014)."""

    class QueryCanceled(Exception):
        sqlstate = "57014"

    def too_slow(self, request, queryset, search_term):
        try:
            raise QueryCanceled("canceling statement due to statement timeout")
        except QueryCanceled as cancelled:
            raise OperationalError(str(cancelled)) from cancelled

    monkeypatch.setattr(RecoveryCaseAdmin, "get_search_results", too_slow)
    _signed_in(client, admin_user)
    response = client.get("/admin/cases/recoverycase/", {"q": "alice"})
    assert response.status_code == 503
    assert "This search took too long; narrow it" in response.content.decode()
    assert response["Retry-After"] == "30"


def test_another_database_error_is_not_mistaken_for_a_timeout(client, admin_user, monkeypatch):
    def broken(self, request, queryset, search_term):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(RecoveryCaseAdmin, "get_search_results", broken)
    _signed_in(client, admin_user)
    client.raise_request_exception = True
    with pytest.raises(OperationalError):
        client.get("/admin/cases/recoverycase/", {"q": "alice"})


@postgresql_only
def test_every_connection_has_the_statement_timeout(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM current_setting('statement_timeout')::interval) * 1000"
        )
        (milliseconds,) = cursor.fetchone()
    assert settings.STATEMENT_TIMEOUT_MS > 0
    assert int(milliseconds) == settings.STATEMENT_TIMEOUT_MS


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_slow_search_on_postgresql_answers_the_503_page(client, monkeypatch):
    """A real cancellation: a tiny timeout and pg_sleep in the list's search. Transactional: a
    cancelled statement aborts the test's own transaction otherwise; serialized rollback puts
    the shipped rows (policy, queues, groups) back for the tests after it."""
    from tests.cases.factories import UserFactory

    admin_user = UserFactory(username="slow.admin", is_superuser=True)
    real_search = RecoveryCaseAdmin.get_search_results

    def slow(self, request, queryset, search_term):
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 50")
            try:
                cursor.execute("SELECT pg_sleep(2)")
            finally:
                cursor.execute("RESET statement_timeout")
        return real_search(self, request, queryset, search_term)

    monkeypatch.setattr(RecoveryCaseAdmin, "get_search_results", slow)
    _signed_in(client, admin_user)
    response = client.get("/admin/cases/recoverycase/", {"q": "alice"})
    assert response.status_code == 503
    assert "This search took too long; narrow it" in response.content.decode()
    monkeypatch.undo()
    assert client.get("/admin/cases/recoverycase/").status_code == 200  # the connection works
