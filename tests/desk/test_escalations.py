"""The Escalations page: escalated cases of my review queues, why each escalated, and Release to
verification / Reject with a reason right on the case; 403 for everyone else; constant queries."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from cases import roles
from cases.services import case_flag_fraud, case_release
from cases.states import Kind, State
from directory.models import Identity
from tests.cases.factories import UserFactory, make_agent
from tests.helpers import escalated_case, give_role, nothing_changed, ready_case
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

PAGE = "/admin/desk/escalations/"
REASON = "Called the subject back on the number of record; the failures were typos."
ROLES = ("agent", "other_agent", "manager", "other_manager", "security_reviewer", "second")


def _client(user) -> Client:
    return _signed_in(Client(), user)


def _decide(client, case, action: str, reason: str = REASON):
    url = reverse("admin:desk:escalation_decide", args=[case.pk])
    return client.post(url, {"action": action, "reason": reason})


def _state(case) -> str:
    case.refresh_from_db()
    return case.state


# --- who may open it ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", [*ROLES, "admin_user"])
def test_only_security_reviewers_open_the_escalations_page(who, clock, people, agent):
    case = escalated_case(agent=agent)
    response = _client(people[who]).get(PAGE)
    if who in ("security_reviewer", "second"):
        assert response.status_code == 200
        assert case.reference in response.content.decode()
    else:
        assert response.status_code == 403
        assert "Only a security reviewer can see this page." in response.content.decode()


@pytest.mark.parametrize("who", ["agent", "other_agent", "manager", "other_manager", "admin_user"])
def test_nobody_but_a_security_reviewer_may_post_a_decision(who, clock, people, agent):
    case = escalated_case(agent=agent)
    with nothing_changed(case):
        response = _decide(_client(people[who]), case, "release")
    assert response.status_code == 403


def test_the_page_says_why_each_case_escalated(clock, agent, other_agent, security_reviewer):
    by_failures = escalated_case(agent=agent)
    flagged = ready_case(agent=other_agent)
    case_flag_fraud(case=flagged, actor=other_agent, reason="The caller was being coached.")
    page = _client(security_reviewer).get(PAGE).content.decode()
    assert "Failed evidence checks reached the policy&#x27;s limit" in page
    assert "3 for the subject" in page
    assert "checked by agent.alice" in page
    assert "Flagged for suspected fraud: The caller was being coached." in page
    assert page.index(by_failures.reference) < page.index(flagged.reference)  # oldest first


def test_a_case_escalated_flagged_again_after_a_release_shows_the_latest_cause(
    clock, agent, security_reviewer, second
):
    case = escalated_case(agent=agent)
    case_release(case=case, actor=second, reason="Typos, confirmed by phone.")
    case_flag_fraud(case=case, actor=agent, reason="A second caller asked about the same case.")
    page = _client(security_reviewer).get(PAGE).content.decode()
    assert "A second caller asked about the same case." in page
    assert "Failed evidence checks" not in page


def test_the_page_lists_only_escalated_cases_of_the_queues_i_review(clock, agent):
    reset = escalated_case(agent=agent)
    rebind = escalated_case(agent=agent, kind=Kind.MFA_REBIND)
    narrow = UserFactory(username="security.narrow")
    give_role(narrow, roles.SECURITY_REVIEWERS)
    roles.grant_queue_role(holder=narrow, perm=roles.REVIEW, queue=reset.queue)
    ready_case(agent=agent)  # not escalated
    page = _client(narrow).get(PAGE).content.decode()
    assert reset.reference in page
    assert rebind.reference not in page
    response = _decide(_client(narrow), rebind, "release")
    assert response.status_code == 403
    assert _state(rebind) == State.ESCALATED


def test_an_empty_page_says_what_would_appear(clock, security_reviewer):
    page = _client(security_reviewer).get(PAGE).content.decode()
    assert "No escalated case waits" in page


# --- which forms are enabled --------------------------------------------------------------------


@pytest.fixture
def dual(db):
    """An agent who is also a security reviewer: may oversee others' cases, never their own."""
    person = make_agent(username="dual.role")
    give_role(person, roles.SECURITY_REVIEWERS, roles.REVIEW)
    return person


def test_release_and_reject_are_disabled_with_the_sentence_on_a_case_i_worked(clock, agent, dual):
    mine = escalated_case(agent=dual)
    theirs = escalated_case(agent=agent)
    page = _client(dual).get(PAGE).content.decode()
    mine_card = page[page.index(f'id="case-{mine.pk}"') :][:4000]
    theirs_card = page[page.index(f'id="case-{theirs.pk}"') :][:4000]
    mine_card = mine_card[: mine_card.index("</article>")]
    theirs_card = theirs_card[: theirs_card.index("</article>")]
    assert "another security reviewer must do this." in mine_card
    assert "<form" not in mine_card  # both refused for the same reason: no form at all
    assert "<form" in theirs_card and "disabled" not in theirs_card
    with nothing_changed(mine):
        _decide(_client(dual), mine, "release")
    assert _state(mine) == State.ESCALATED


@pytest.mark.parametrize("who", ["security_reviewer", "second"])
def test_every_reviewer_who_took_no_part_gets_both_buttons(who, clock, people, agent):
    case = escalated_case(agent=agent)
    page = _client(people[who]).get(PAGE).content.decode()
    assert f'action="{reverse("admin:desk:escalation_decide", args=[case.pk])}"' in page
    assert "Release to verification</button>" in page
    assert "Reject</button>" in page
    assert " disabled" not in page


# --- deciding through the page ------------------------------------------------------------------


def test_a_reviewer_releases_an_escalated_case_with_a_reason(clock, agent, security_reviewer):
    case = escalated_case(agent=agent)
    client = _client(security_reviewer)
    response = _decide(client, case, "release")
    assert response.status_code == 302 and response.url == PAGE
    case.refresh_from_db()
    assert (case.state, case.failed_checks) == (State.VERIFYING, 0)
    event = AuditEvent.objects.get(case=case, action="case.release")
    assert (event.actor, event.detail) == (security_reviewer, {"reason": REASON})
    page = client.get(PAGE).content.decode()
    assert f"You released {case.reference} to verification" in page
    assert f'id="case-{case.pk}"' not in page


def test_a_reviewer_rejects_an_escalated_case_with_a_reason(clock, agent, security_reviewer):
    case = escalated_case(agent=agent)
    response = _decide(_client(security_reviewer), case, "reject")
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.closing_reason) == (State.REJECTED, REASON)


@pytest.mark.parametrize("action", ["release", "reject"])
@pytest.mark.parametrize("reason", ["", "   "])
def test_a_decision_without_a_reason_is_refused_and_the_page_drawn_again(
    action, reason, clock, agent, security_reviewer
):
    case = escalated_case(agent=agent)
    with nothing_changed(case):
        response = _decide(_client(security_reviewer), case, action, reason)
    assert response.status_code == 200
    page = response.content.decode()
    sentence = {"release": "Say why the case may go on.", "reject": "Say why the case is rejected."}
    assert sentence[action] in page
    assert f'id="case-{case.pk}"' in page  # the form again


def test_a_refused_decision_keeps_what_was_typed(clock, agent, dual):
    case = escalated_case(agent=dual)
    other = escalated_case(agent=agent)
    response = _decide(_client(dual), case, "reject", "Typed before someone noticed.")
    assert response.status_code == 200
    page = response.content.decode()
    assert "another security reviewer must do this." in page
    assert other.reference in page


@pytest.mark.parametrize(
    "data",
    [
        {"action": "approve", "reason": REASON},
        {"reason": REASON},
        {"action": "release", "reason": "x" * 2001},
    ],
)
def test_bad_input_draws_the_page_again_with_a_message(data, clock, agent, security_reviewer):
    case = escalated_case(agent=agent)
    url = reverse("admin:desk:escalation_decide", args=[case.pk])
    with nothing_changed(case):
        response = _client(security_reviewer).post(url, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose Release to verification or Reject." in page or "under 2000" in page


def test_a_case_released_meanwhile_is_refused_with_the_tables_sentence(
    clock, agent, security_reviewer, second
):
    case = escalated_case(agent=agent)
    stale = _client(security_reviewer)
    stale.get(PAGE)
    case_release(case=case, actor=second, reason="Released by a colleague first.")
    response = _decide(stale, case, "reject")
    assert response.status_code == 200
    assert "is verifying; &#x27;reject&#x27; is not possible" not in response.content.decode()
    assert _state(case) == State.VERIFYING  # the assigned agent's to reject now, not mine
    assert "Only the agent who claimed" in response.content.decode()


def test_unknown_cases_are_404_and_get_is_not_allowed(clock, agent, security_reviewer):
    client = _client(security_reviewer)
    assert (
        client.post("/admin/desk/escalations/999999/decide/", {"action": "release"}).status_code
        == 404
    )
    case = escalated_case(agent=agent)
    assert client.get(reverse("admin:desk:escalation_decide", args=[case.pk])).status_code == 405


# --- constant queries ---------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_the_page_reads_in_the_same_number_of_queries_for_1_and_20_cases(
    clock, agent, other_agent, security_reviewer
):
    client = _client(security_reviewer)
    escalated_case(agent=agent)
    one = _queries(client, PAGE)
    for n in range(19):
        worker = agent if n % 2 else other_agent
        if n % 3:
            escalated_case(agent=worker)
        else:
            flagged = ready_case(agent=worker)
            case_flag_fraud(case=flagged, actor=worker, reason="Coached caller.")
    assert _queries(client, PAGE) == one
    assert _queries(client, "/admin/") == _queries(client, "/admin/")


def test_the_escalations_are_on_the_reviewers_desk_home(clock, agent, security_reviewer):
    case = escalated_case(agent=agent)
    page = _client(security_reviewer).get("/admin/").content.decode()
    assert "1 escalated case</a> waits for release or rejection." in page
    assert f'href="{PAGE}#case-{case.pk}"' in page


def test_a_reviewer_never_sees_the_escalation_of_their_own_recovery(agent, second):
    """Whoever may not open a case (their own recovery) finds it on no list either."""
    case = escalated_case(agent=agent)
    Identity.objects.filter(pk=case.subject_id).update(staff_user=second)
    client = _signed_in(Client(), second)
    assert case.reference not in client.get(PAGE).content.decode()
    assert case.reference not in client.get("/admin/").content.decode()
