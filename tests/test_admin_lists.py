"""Staff lists at a million rows (issue #13): a constant number of queries whatever the number of
rows, never an unbounded COUNT(*), and a capped count that reads "10,000+"."""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.services import approval_grant
from cases.admin import RecoveryCaseAdmin
from cases.models import Queue
from cases.states import Kind
from directory.models import DirectorySession, ManagedDevice
from recovery_desk.admin_tools import COUNT_CAP, CappedCount, CappedPaginator
from tests.cases.builders import open_case
from tests.helpers import awaiting_approval_case
from tests.test_admin import _signed_in
from tests.test_admin_routes import _a_notice

pytestmark = pytest.mark.django_db

LISTS = [
    f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry
]


def _a_desk_day(agent, manager) -> None:
    """One more row of every desk table: a case with evidence, an approval, audit events, a
    subject with a device and a session."""
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason="Checked the evidence")
    ManagedDevice.objects.create(device_id=f"LAPTOP-{case.pk}", owner=case.subject)
    DirectorySession.objects.create(
        identity=case.subject, client="Laptop", started_at=timezone.now()
    )
    _a_notice(case)


def _queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [query["sql"] for query in captured.captured_queries]


def test_every_list_runs_the_same_queries_for_1_and_30_rows_and_never_counts_a_table(
    client, clock, admin_user, agent, manager
):
    _signed_in(client, admin_user)
    _a_desk_day(agent, manager)
    few = {url: _queries(client, url) for url in LISTS}
    for _ in range(29):
        _a_desk_day(agent, manager)
    many = {url: _queries(client, url) for url in LISTS}
    assert len(many["/admin/cases/recoverycase/"]) == len(few["/admin/cases/recoverycase/"])
    mismatched = {
        url: (len(few[url]), len(many[url])) for url in LISTS if len(few[url]) != len(many[url])
    }
    assert mismatched == {}
    for url, queries in many.items():
        for sql in queries:
            if re.search(r"\bCOUNT\(", sql, re.IGNORECASE):
                assert re.search(r"\bLIMIT\b", sql, re.IGNORECASE), f"{url}: unbounded {sql}"


def test_lists_show_30_rows_on_one_page_with_their_relations_read_in_the_same_query(
    client, clock, admin_user, agent, manager
):
    _signed_in(client, admin_user)
    for _ in range(30):
        _a_desk_day(agent, manager)
    response = client.get("/admin/cases/recoverycase/")
    assert len(response.context["cl"].result_list) == 30
    for url, model_admin in (
        (f"/admin/{m._meta.app_label}/{m._meta.model_name}/", a)
        for m, a in admin.site._registry.items()
    ):
        assert model_admin.show_full_result_count is False, url
        assert model_admin.paginator is CappedPaginator, url
        assert model_admin.show_facets == admin.ShowFacets.NEVER, url


def test_a_count_past_the_cap_reads_with_a_plus_and_stops_paging_there(
    client, admin_user, agent, monkeypatch
):
    monkeypatch.setattr(CappedPaginator, "cap", 3)
    monkeypatch.setattr(RecoveryCaseAdmin, "list_per_page", 2)
    for _ in range(5):
        open_case(opener=agent)
    _signed_in(client, admin_user)
    response = client.get("/admin/cases/recoverycase/")
    cl = response.context["cl"]
    assert isinstance(cl.result_count, CappedCount) and cl.result_count == 3
    assert len(cl.result_list) == 2
    assert cl.paginator.num_pages == 2
    assert "3+ recovery cases" in response.content.decode()
    assert str(CappedCount(COUNT_CAP)) == "10,000+"


def test_facet_counts_cannot_be_asked_for(client, admin_user, agent):
    """Django's facets count every filter choice over the whole table: never here."""
    open_case(opener=agent)
    _signed_in(client, admin_user)
    queries = _queries(client, "/admin/cases/recoverycase/?_facets=True")
    assert not any("COUNT(" in sql and "LIMIT" not in sql for sql in queries)


def test_the_case_list_filters_by_queue(client, admin_user, agent):
    reset = open_case(opener=agent)
    rebind = open_case(opener=agent, kind=Kind.MFA_REBIND, replaced_authenticator=None)
    _signed_in(client, admin_user)
    queue = Queue.objects.get(kind=Kind.MFA_REBIND)
    response = client.get("/admin/cases/recoverycase/", {"queue__id__exact": queue.pk})
    assert [case.pk for case in response.context["cl"].result_list] == [rebind.pk]
    assert reset.pk not in [case.pk for case in response.context["cl"].result_list]
    assert queue.name in response.content.decode()
