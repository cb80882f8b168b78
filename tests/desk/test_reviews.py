"""The break-glass review pages: the list of open (overdue marked) and recently closed reviews,
one review's facts and its close form (disabled with the refusal for anyone who took part),
closing through the page, 403 for everyone but reviewers of the queue, constant queries, and
the reviewer's section of the desk home."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from cases import roles
from cases.models import BreakGlassReview, ReviewOutcome
from cases.states import Kind, State
from demo import builders
from directory.models import RiskTier
from tests.cases.factories import UserFactory, make_agent, make_security_reviewer
from tests.helpers import case_in, give_role
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

LIST = "/admin/desk/reviews/"
FINDINGS = "The payments outage was real and the evidence met the policy in full."
REVIEWERS = ("security_reviewer", "second")
OTHERS = ("agent", "other_agent", "manager", "other_manager", "admin_user")


@pytest.fixture
def review(clock, agent, security_reviewer) -> BreakGlassReview:
    """security.erin broke glass on agent.alice's privileged case."""
    case = case_in(State.READY, agent=agent, tier=RiskTier.PRIVILEGED, reviewer=security_reviewer)
    return builders.review_of(case)


def _client(user) -> Client:
    return _signed_in(Client(), user)


def _url(review) -> str:
    return reverse("admin:desk:review", args=[review.pk])


def _close(client, review, **data):
    payload = {"outcome": ReviewOutcome.JUSTIFIED, "findings": FINDINGS, "follow_up": ""}
    return client.post(_url(review), {**payload, **data})


def _row(review) -> dict:
    return BreakGlassReview.objects.filter(pk=review.pk).values().get()


# --- who may open what ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", REVIEWERS + OTHERS)
def test_only_security_reviewers_open_the_review_pages(who, review, people):
    client = _client(people[who])
    for url in (LIST, _url(review)):
        response = client.get(url)
        if who in REVIEWERS:
            assert response.status_code == 200, url
        else:
            assert response.status_code == 403, url
            assert "Only a security reviewer can see this page." in response.content.decode()


@pytest.mark.parametrize("who", OTHERS)
def test_nobody_else_may_post_a_close(who, review, people):
    before = _row(review)
    assert _close(_client(people[who]), review).status_code == 403
    assert _row(review) == before


@pytest.mark.parametrize("who", REVIEWERS)
def test_the_close_form_is_enabled_only_for_a_reviewer_who_took_no_part(who, review, people):
    page = _client(people[who]).get(_url(review)).content.decode()
    assert 'name="findings"' in page
    if who == "security_reviewer":  # broke glass on it
        assert "<fieldset disabled" in page
        assert f"You broke glass on {review.case.reference}; another security reviewer" in page
    else:
        assert "<fieldset disabled" not in page
        assert "<fieldset>" in page


@pytest.fixture
def dual(db):
    person = make_agent(username="dual.role")
    give_role(person, roles.SECURITY_REVIEWERS, roles.REVIEW)
    return person


def test_the_form_is_disabled_with_the_sentence_for_the_agent_of_the_case(
    clock, dual, security_reviewer
):
    case = case_in(State.READY, agent=dual, reviewer=security_reviewer)
    page = _client(dual).get(_url(builders.review_of(case))).content.decode()
    assert "<fieldset disabled" in page
    assert f"You took part in {case.reference}" in page


def test_a_reviewer_of_other_queues_gets_a_403(clock, agent, security_reviewer):
    rebind = builders.review_of(
        case_in(State.READY, agent=agent, kind=Kind.MFA_REBIND, reviewer=security_reviewer)
    )
    reset = builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    narrow = UserFactory(username="security.narrow")
    give_role(narrow, roles.SECURITY_REVIEWERS)
    roles.grant_queue_role(holder=narrow, perm=roles.REVIEW, queue=reset.case.queue)
    client = _client(narrow)
    listing = client.get(LIST).content.decode()
    assert reset.case.reference in listing and rebind.case.reference not in listing
    response = client.get(_url(rebind))
    assert response.status_code == 403
    assert "You are not a security reviewer of the" in response.content.decode()
    assert _close(client, rebind).status_code == 403


def test_an_unknown_review_is_404(clock, security_reviewer):
    assert _client(security_reviewer).get("/admin/desk/reviews/999999/").status_code == 404


# --- the review page ------------------------------------------------------------------------------


def test_the_page_shows_the_break_glass_facts_and_what_happened_since(clock, review, agent, second):
    clock.shift(timedelta(hours=1))
    builders.executed(review.case, agent)
    page = _client(second).get(_url(review)).content.decode()
    assert "security.erin" in page
    assert "No eligible approver reachable in time" in page
    assert builders.JUSTIFICATION.replace("'", "&#x27;") in page
    assert "2026-11-30 09:00 UTC" in page
    assert "while the case was verifying" in page
    assert "Execution started" in page and "Directory carried it out" in page
    assert "Ready → Executing" in page
    assert "Review due</dt><dd>2026-12-01 09:00 UTC (in 23" in page


def test_closing_through_the_page(clock, review, second):
    client = _client(second)
    response = _close(
        client,
        review,
        outcome=ReviewOutcome.NOT_JUSTIFIED,
        follow_up="Remind the breaker that approvers were on call.",
    )
    assert response.status_code == 302 and response.url == _url(review)
    review.refresh_from_db()
    assert (review.reviewer, review.outcome, review.findings) == (
        second,
        ReviewOutcome.NOT_JUSTIFIED,
        FINDINGS,
    )
    assert AuditEvent.objects.filter(action="review.close", actor=second).count() == 1
    page = client.get(_url(review)).content.decode()
    assert f"You closed the break-glass review of {review.case.reference}." in page
    assert "<strong>Not justified</strong>" in page
    assert 'name="findings"' not in page  # closed: no form any more
    listing = client.get(LIST).content.decode()
    assert "Closed lately" in listing and "security.frank" in listing


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"findings": ""}, "Write the findings in a sentence"),
        ({"findings": "ok ok"}, "Write the findings in a sentence"),
        ({"outcome": ""}, "Choose the outcome of the review"),
        ({"outcome": "maybe"}, "Choose the outcome of the review"),
        ({"outcome": ReviewOutcome.NOT_JUSTIFIED, "follow_up": "  "}, "needs follow-up actions"),
        ({"findings": "x " * 2001}, "under 4000 characters"),
    ],
)
def test_bad_input_draws_the_form_again_with_the_sentence_and_what_was_typed(
    data, sentence, review, second
):
    before = _row(review)
    typed = {"follow_up": "Typed follow-up.", **data}
    response = _close(_client(second), review, **typed)
    assert response.status_code == 200
    page = response.content.decode()
    assert sentence in page
    assert 'name="findings"' in page and "<fieldset disabled" not in page
    if typed["follow_up"].strip():
        assert "Typed follow-up.</textarea>" in page
    if len(typed.get("findings", FINDINGS)) < 100:
        assert f"{typed.get('findings', FINDINGS)}</textarea>" in page
    if typed.get("outcome", ReviewOutcome.JUSTIFIED) in ReviewOutcome.values:
        assert f'value="{typed.get("outcome", ReviewOutcome.JUSTIFIED)}" required checked' in page
    assert _row(review) == before


def test_the_breaker_posting_anyway_is_refused_with_the_sentence(review, security_reviewer):
    before = _row(review)
    response = _close(_client(security_reviewer), review)
    assert response.status_code == 200
    assert "another security reviewer must review it." in response.content.decode()
    assert _row(review) == before


def test_a_second_close_is_refused(review, second):
    third = make_security_reviewer(username="security.hana")
    _close(_client(second), review)
    before = _row(review)
    response = _close(_client(third), review)
    assert response.status_code == 200
    assert "is already closed." in response.content.decode()
    assert _row(review) == before


# --- the list and overdue reviews -----------------------------------------------------------------


def test_overdue_reviews_lead_the_list_and_are_marked(clock, agent, security_reviewer, second):
    early = builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    clock.shift(timedelta(hours=2))
    late = builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    clock.shift(timedelta(hours=23))  # early is overdue by an hour, late due in an hour
    builders.review_overdue(early, clock, late=timedelta(0))
    page = _client(second).get(LIST).content.decode()
    assert page.index(early.case.reference) < page.index(late.case.reference)
    assert page.count('class="desk-behind"') == 1
    assert "<strong>Overdue</strong> by 1" in page
    assert "escalated 2026-12-01 10:00 UTC" in page
    review_page = _client(second).get(_url(early)).content.decode()
    assert "Overdue:" in review_page and "escalated to security" in review_page


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_the_list_and_the_home_read_in_the_same_number_of_queries_for_1_and_20_reviews(
    clock, agent, other_agent, security_reviewer, second
):
    third = make_security_reviewer(username="security.hana")
    builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    builders.broken_glass(agent=agent, reviewer=security_reviewer, closed_by=second)
    clock.shift(timedelta(hours=25))  # the first is overdue now
    client = _client(second)
    one = (_queries(client, LIST), _queries(client, "/admin/"))
    for n in range(19):
        worker = agent if n % 2 else other_agent
        breaker = security_reviewer if n % 3 else third
        builders.broken_glass(
            agent=worker, reviewer=breaker, closed_by=second if n % 4 == 0 else None
        )
    assert (_queries(client, LIST), _queries(client, "/admin/")) == one


def test_the_review_page_reads_in_the_same_number_of_queries_for_a_short_and_a_long_trail(
    clock, review, agent, second
):
    client = _client(second)
    short = _queries(client, _url(review))
    builders.executed(review.case, agent)
    assert _queries(client, _url(review)) == short


# --- the desk home --------------------------------------------------------------------------------


def test_the_home_shows_open_and_overdue_reviews_highlighted(
    clock, agent, security_reviewer, second
):
    first = builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    clock.shift(timedelta(hours=2))
    builders.review_of(case_in(State.READY, agent=agent, reviewer=security_reviewer))
    client = _client(second)
    page = client.get("/admin/").content.decode()
    assert "2 break-glass reviews</a> are open." in page
    assert "overdue" not in page.lower()
    clock.shift(timedelta(hours=23))
    page = _client(second).get("/admin/").content.decode()  # a new session: 23 hours passed
    assert "1 break-glass review overdue." in page
    assert "2 break-glass reviews</a> are open, 1 overdue." in page
    assert f'href="{_url(first)}"' in page
    assert page.count('class="desk-behind"') == 1


def test_agents_and_managers_see_no_reviewer_section(clock, review, agent, manager):
    for user in (agent, manager):
        assert "Security review" not in _client(user).get("/admin/").content.decode()


def test_a_reviewer_never_sees_the_review_of_their_own_recovery(
    clock, agent, security_reviewer, second
):
    """security.frank's own account was recovered with break-glass: the lists, the desk home
    and the review page keep it from him (other reviewers review it), as the case page does."""
    subject = builders.new_subject(tier=RiskTier.PRIVILEGED)
    subject.staff_user = second
    subject.save(update_fields=["staff_user"])
    own = builders.review_of(
        case_in(State.READY, agent=agent, subject=subject, reviewer=security_reviewer)
    )
    client = _client(second)
    assert own.case.reference not in client.get("/admin/desk/reviews/").content.decode()
    assert own.case.reference not in client.get("/admin/").content.decode()
    assert client.get(_url(own)).status_code == 403
    assert _close(client, own).status_code == 403
    assert _row(own)["closed_at"] is None
