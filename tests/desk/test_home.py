"""The desk home: each role sees its own work; Claim next takes the oldest claimable case."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Queue, RecoveryCase
from cases.states import Kind, State
from demo.builders import case_in
from tests.cases.factories import UserFactory
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

HOME = "/admin/"


def _queue(kind=Kind.PASSWORD_RESET) -> Queue:
    return Queue.objects.get(kind=kind)


def _claim_next(client, queue: Queue):
    return client.post(reverse("admin:desk:claim_next", args=[queue.pk]))


def test_an_agent_sees_their_open_cases_and_each_queue_with_its_backlog(client, agent):
    mine = case_in(State.VERIFYING, agent=agent)
    waiting = case_in(State.NEW, agent=agent)
    _signed_in(client, agent)
    page = client.get(HOME).content.decode()
    assert mine.reference in page
    assert "My queues" in page
    assert "Claim next" in page
    assert waiting.reference not in page  # not claimed: counted in its queue, not listed as mine


def test_a_manager_sees_no_queue_backlog_and_no_claim_button(client, manager, agent):
    case_in(State.NEW, agent=agent)
    _signed_in(client, manager)
    page = client.get(HOME).content.decode()
    assert "My queues" not in page
    assert "Claim next" not in page


def test_staff_without_a_queue_role_are_told_so_not_shown_an_empty_desk(client):
    _signed_in(client, UserFactory())
    page = client.get(HOME).content.decode()
    assert "You hold no role on any queue yet" in page


def test_a_queue_behind_its_service_target_is_marked(client, agent, clock):
    case_in(State.NEW, agent=agent)
    _signed_in(client, agent)
    assert "desk-behind" not in client.get(HOME).content.decode()
    clock.shift(_queue().service_target + timedelta(minutes=1))
    _signed_in(client, agent)  # the idle session ended while the clock moved on
    assert "desk-behind" in client.get(HOME).content.decode()


def test_claim_next_takes_the_oldest_claimable_case_and_opens_it(client, agent, clock):
    oldest = case_in(State.NEW, agent=agent)
    clock.shift(timedelta(minutes=5))
    case_in(State.NEW, agent=agent)
    _signed_in(client, agent)
    response = _claim_next(client, _queue())
    assert response.status_code == 302
    assert response.url == reverse("admin:desk:case", args=[oldest.pk])
    oldest.refresh_from_db()
    assert (oldest.state, oldest.assigned_agent) == (State.VERIFYING, agent)


def test_claim_next_with_nothing_waiting_says_so(client, agent):
    _signed_in(client, agent)
    response = _claim_next(client, _queue())
    assert response.status_code == 302
    assert "Nothing to claim" in client.get(HOME).content.decode()


def test_claim_next_is_refused_to_someone_who_does_not_work_the_queue(client, manager, agent):
    waiting = case_in(State.NEW, agent=agent)
    _signed_in(client, manager)
    assert _claim_next(client, _queue()).status_code == 403
    waiting.refresh_from_db()
    assert waiting.state == State.NEW


def test_claim_next_only_answers_a_post(client, agent):
    _signed_in(client, agent)
    assert client.get(reverse("admin:desk:claim_next", args=[_queue().pk])).status_code == 405


def test_claim_next_for_an_unknown_queue_is_a_404(client, agent):
    _signed_in(client, agent)
    assert client.post(reverse("admin:desk:claim_next", args=[999999])).status_code == 404


def test_the_desk_home_runs_the_same_number_of_queries_for_one_or_many_cases(client, agent):
    _signed_in(client, agent)
    case_in(State.VERIFYING, agent=agent)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(HOME).status_code == 200
        return len(ctx)

    few = queries()
    for _ in range(8):
        case_in(State.VERIFYING, agent=agent)
        case_in(State.NEW, agent=agent, kind=Kind.MFA_REBIND)
    assert RecoveryCase.objects.count() == 17
    assert queries() == few
