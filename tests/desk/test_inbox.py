"""The approvals inbox: exactly the cases waiting for *my* decision (the ``approve`` rule in SQL,
held to agree with ``available_actions``), Approve and Deny through the page with a reason in
the audit trail, constant queries, and the approver's section of the desk home."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from approvals.models import Approval
from approvals.selectors import approvals_inbox, awaiting_decision_of, decisions_on
from audit.actions import Action
from audit.models import AuditEvent
from cases import roles
from cases.models import PolicyRule, Queue, RecoveryCase
from cases.policy import pinned_policy
from cases.policy_services import policy_rule_update
from cases.roles import queue_roles
from cases.selectors import available_actions
from cases.services import case_flag_fraud, case_release
from cases.states import Kind, State
from demo import builders
from directory.models import RiskTier
from recovery_desk import clock as one_clock
from tests.cases.factories import UserFactory, make_agent, make_manager
from tests.directory.factories import IdentityFactory
from tests.helpers import (
    awaiting_approval_case,
    case_in,
    claimed_case,
    cooling_off_case,
    give_role,
    nothing_changed,
    pass_totp,
)
from tests.test_admin import _signed_in
from verification.selectors import evidence_summary

pytestmark = pytest.mark.django_db

INBOX = "/admin/desk/inbox/"
REASON = "Spoke to the subject's line manager on the phone"


def _decide(client, case, decision: str, reason: str = REASON):
    url = reverse("admin:desk:inbox_decide", args=[case.pk])
    return client.post(url, {"decision": decision, "reason": reason})


def _listed(user) -> list[int]:
    now = one_clock.now()
    approves = queue_roles(user).approves
    return sorted(
        awaiting_decision_of(user=user, approves=approves, now=now).values_list("pk", flat=True)
    )


def _may_approve(case, user) -> bool:
    actions = available_actions(RecoveryCase.objects.get(pk=case.pk), user, one_clock.now())
    return next(a for a in actions if a.name == "approve").allowed


@pytest.fixture
def staff_subject(db):
    """A manager who is also a person in the directory (their own account can be recovered)."""
    manager = make_manager(username="manager.gina")
    IdentityFactory(risk_tier=RiskTier.PRIVILEGED, staff_user=manager, username="gina.h")
    return manager


@pytest.fixture
def agent_and_manager(db):
    user = make_agent(username="agent.manager.frank")
    give_role(user, roles.MANAGERS, roles.APPROVE)
    return user


# --- who may open the inbox -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("manager", 200),
        ("other_manager", 200),
        ("security_reviewer", 200),
        ("staff_subject", 200),
        ("agent", 403),
        ("other_agent", 403),
        ("admin_user", 403),
    ],
)
def test_only_approvers_open_the_inbox(request, client, role, status):
    _signed_in(client, request.getfixturevalue(role))
    response = client.get(INBOX)
    assert response.status_code == status
    if status == 403:
        assert "Only an approver of a queue can see this page." in response.content.decode()


@pytest.mark.parametrize("role", ["agent", "other_agent", "admin_user"])
def test_a_decision_from_someone_who_is_not_an_approver_is_refused(
    request, client, clock, agent, role
):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, request.getfixturevalue(role))
    with nothing_changed(case):
        assert _decide(client, case, "approve").status_code == 403


# --- exactly the right cases ------------------------------------------------------------------


@pytest.fixture
def desk(
    clock,
    agent,
    other_agent,
    manager,
    other_manager,
    security_reviewer,
    staff_subject,
    agent_and_manager,
):
    """Cases awaiting approval, each with one reason to be hidden from one person, and a few in
    other states."""
    # Past its approval deadline: it can only expire (built first, then the clock moves on).
    late = awaiting_approval_case(agent=agent)
    clock.shift(pinned_policy(late).approval_deadline + timedelta(minutes=1))
    cases = {
        "late": late,
        "plain": awaiting_approval_case(agent=agent),
        "contractor": case_in(State.AWAITING_APPROVAL, agent=other_agent, tier=RiskTier.CONTRACTOR),
        "rebind": case_in(
            State.AWAITING_APPROVAL, agent=agent, kind=Kind.MFA_REBIND, tier=RiskTier.CONTRACTOR
        ),
        "opened_by_frank": awaiting_approval_case(agent=agent, opener=agent_and_manager),
        "verified_by_frank": awaiting_approval_case(agent=agent_and_manager, opener=agent),
        "gina_herself": awaiting_approval_case(
            agent=agent, subject=staff_subject.identity, tier=RiskTier.PRIVILEGED
        ),
        "service": awaiting_approval_case(agent=agent, tier=RiskTier.SERVICE),
        "approved_by_carol": builders.approve(awaiting_approval_case(agent=agent), manager),
    }
    # Owned by the security reviewer: the service identity's owner is their own account.
    erin = IdentityFactory(staff_user=security_reviewer, username="erin.s")
    owned = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=erin)
    cases["erins_service"] = awaiting_approval_case(agent=agent, subject=owned)
    # Approved by carol, then flagged and released: a new round, but one decision per person.
    again = builders.approve(awaiting_approval_case(agent=agent), manager)
    case_flag_fraud(case=again, actor=agent, reason="The caller was being coached")
    case_release(case=again, actor=security_reviewer, reason="Checked with the subject")
    clock.shift(timedelta(minutes=1))  # evidence of the new round comes after the release
    pass_totp(again, agent)
    cases["carol_decided_last_round"] = builders.verify(again, agent)
    cases["fresh"] = awaiting_approval_case(agent=agent)
    # Not waiting for a decision.
    cases["verifying"] = claimed_case(agent=agent, tier=RiskTier.PRIVILEGED)
    cases["cooling_off"] = cooling_off_case(agent=agent, approvers=[other_manager, manager])
    return cases


EXPECTED = {
    "manager": {"plain", "contractor", "rebind", "opened_by_frank", "verified_by_frank",
                "gina_herself", "fresh"},
    "other_manager": {"plain", "contractor", "rebind", "opened_by_frank", "verified_by_frank",
                      "gina_herself", "approved_by_carol", "carol_decided_last_round", "fresh"},
    "staff_subject": {"plain", "contractor", "rebind", "opened_by_frank", "verified_by_frank",
                      "approved_by_carol", "carol_decided_last_round", "fresh"},
    "agent_and_manager": {"plain", "contractor", "rebind", "gina_herself", "approved_by_carol",
                          "carol_decided_last_round", "fresh"},
    "security_reviewer": {"service"},
}  # fmt: skip


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_the_inbox_lists_exactly_the_cases_waiting_for_my_decision(request, client, desk, role):
    user = request.getfixturevalue(role)
    _signed_in(client, user)
    page = client.get(INBOX).content.decode()
    shown = {name for name, case in desk.items() if f">{case.reference}<" in page}
    assert shown == EXPECTED[role]


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_every_listed_case_may_be_approved_and_every_hidden_awaiting_case_is_refused(
    request, desk, role
):
    user = request.getfixturevalue(role)
    listed = set(_listed(user))
    awaiting = RecoveryCase.objects.filter(state=State.AWAITING_APPROVAL)
    assert awaiting.count() > len(listed) > 0
    for case in awaiting:
        assert (case.pk in listed) == _may_approve(case, user), case.reference


def test_the_approver_role_is_the_one_pinned_at_opening_not_the_live_policy(
    clock, agent, manager, security_reviewer
):
    case = awaiting_approval_case(agent=agent)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier=RiskTier.PRIVILEGED)
    policy_rule_update(
        rule=rule, actor=security_reviewer, changes={"approver_role": "security_reviewer"}
    )
    assert _listed(manager) == [case.pk] and _may_approve(case, manager)
    assert _listed(security_reviewer) == [] and not _may_approve(case, security_reviewer)


def test_approval_rights_on_another_queue_do_not_list_this_queues_cases(clock, agent):
    case = awaiting_approval_case(agent=agent)
    elsewhere = UserFactory(username="manager.harry")
    elsewhere.groups.add(Group.objects.get(name=roles.MANAGERS))
    roles.grant_queue_role(
        holder=elsewhere, perm=roles.APPROVE, queue=Queue.objects.get(kind=Kind.MFA_REBIND)
    )
    assert _listed(elsewhere) == []
    assert not _may_approve(case, elsewhere)


def test_a_deactivated_manager_sees_nothing(clock, agent, manager):
    awaiting_approval_case(agent=agent)
    manager.is_active = False
    manager.save()
    assert _listed(manager) == []


# --- what a row says --------------------------------------------------------------------------


def test_a_row_says_who_did_what_the_evidence_and_how_many_approvals(
    client, clock, agent, other_agent, manager, other_manager
):
    case = builders.approve(awaiting_approval_case(agent=agent, opener=other_agent), manager)
    _signed_in(client, other_manager)
    page = client.get(INBOX).content.decode()
    assert f'href="{reverse("admin:desk:case", args=[case.pk])}"' in page
    assert case.subject.display_name in page
    assert "Privileged (admins, executives, finance)" in page
    assert "Password reset" in page
    assert "agent.bob" in page and "agent.alice" in page  # opened by, verified by
    assert "1 of 2 approvals" in page
    assert "Score 2 (the policy asks for 2), 1 independent method (asks for 1)" in page
    assert "Code read from an enrolled TOTP authenticator" in page
    assert "Waiting since" in page


def test_evidence_and_approvals_of_each_row_are_the_current_rounds(
    clock, agent, manager, other_manager, security_reviewer
):
    plain = builders.approve(awaiting_approval_case(agent=agent), other_manager)
    again = builders.approve(awaiting_approval_case(agent=agent), other_manager)
    case_flag_fraud(case=again, actor=agent, reason="The caller was being coached")
    clock.shift(timedelta(minutes=1))
    case_release(case=again, actor=security_reviewer, reason="Checked with the subject")
    clock.shift(timedelta(minutes=1))
    pass_totp(again, agent)
    builders.verify(again, agent)
    now = one_clock.now()
    inbox = approvals_inbox(user=manager, approves=queue_roles(manager).approves, now=now)
    assert [row.case.pk for row in inbox.rows] == [plain.pk, again.pk]
    assert [row.approvals_given for row in inbox.rows] == [1, 0]  # the release voided one
    for row in inbox.rows:
        assert row.evidence == evidence_summary(case=row.case)
        assert row.approvals_given == decisions_on(case=row.case, now=now).valid_approvals


def test_oldest_first_at_most_the_limit_and_a_capped_count_of_the_rest(clock, agent, manager):
    made = []
    for _ in range(4):
        made.append(awaiting_approval_case(agent=agent))
        clock.shift(timedelta(minutes=5))
    approves = queue_roles(manager).approves
    now = one_clock.now()
    shown = approvals_inbox(user=manager, approves=approves, now=now, limit=2)
    assert [row.case.pk for row in shown.rows] == [made[0].pk, made[1].pk]
    assert (shown.waiting, shown.more, shown.capped) == (4, 2, False)
    capped = approvals_inbox(user=manager, approves=approves, now=now, limit=2, cap=3)
    assert (capped.waiting, capped.capped) == (3, True)
    with CaptureQueriesContext(connection) as ctx:
        approvals_inbox(user=manager, approves=approves, now=now, limit=2, cap=3)
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 2  # the capped count, and the approvals subquery of the listing
    assert any("LIMIT 3" in sql for sql in counts)


def test_the_page_says_when_more_wait_than_it_shows(client, clock, agent, manager, monkeypatch):
    from desk.views import inbox

    monkeypatch.setattr(inbox, "INBOX_ROWS", 2)
    for _ in range(3):
        awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    page = client.get(INBOX).content.decode()
    assert "3 cases wait for your decision; here are the 2 that have waited longest." in page
    assert page.count('class="desk-card desk-decision"') == 2
    assert "1 more case waits beyond these" in page


def _queries_for_inbox(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(INBOX).status_code == 200
    return len(ctx)


def test_the_inbox_runs_the_same_number_of_queries_for_1_and_30_cases(
    client, clock, agent, other_agent, manager
):
    awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    one = _queries_for_inbox(client)
    for number in range(29):
        awaiting_approval_case(agent=agent if number % 2 else other_agent)
    page = client.get(INBOX).content.decode()
    assert page.count('class="desk-card desk-decision"') == 30
    assert _queries_for_inbox(client) == one


# --- deciding ---------------------------------------------------------------------------------


def test_a_manager_approves_from_the_inbox_and_the_second_approval_moves_the_case_on(
    client, clock, agent, manager, other_manager
):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    response = _decide(client, case, "approve")
    assert response.status_code == 302 and response.url == INBOX
    page = client.get(INBOX).content.decode()
    assert f"You approved {case.reference}; it waits for another approver." in page
    assert f">{case.reference}<" not in page
    approval = Approval.objects.get(case=case, approver=manager)
    assert (approval.decision, approval.reason) == ("approved", REASON)

    _signed_in(client, other_manager)
    _decide(client, case, "approve")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    assert "it moved on to cooling off" in client.get(INBOX).content.decode()


def test_a_manager_denies_with_a_reason_that_goes_into_the_audit_event(
    client, clock, agent, manager
):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    _decide(client, case, "deny", "The caller did not know their own manager's name")
    case.refresh_from_db()
    assert case.state == State.REJECTED
    event = AuditEvent.objects.get(case=case, action=Action.CASE_DENY)
    assert event.detail["reason"] == "The caller did not know their own manager's name"
    assert event.actor == manager
    assert f"You denied {case.reference}" in client.get(INBOX).content.decode()


@pytest.mark.parametrize("reason", ["", "   \n  "])
def test_a_denial_without_a_reason_is_refused_and_the_case_is_unchanged(
    client, clock, agent, manager, reason
):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    with nothing_changed(case):
        response = _decide(client, case, "deny", reason)
    assert response.status_code == 302
    page = client.get(INBOX).content.decode()
    assert "Give a reason for the decision." in page
    assert f">{case.reference}<" in page  # still waiting


def test_an_approval_without_a_reason_is_refused_too(client, clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    with nothing_changed(case):
        _decide(client, case, "approve", "")
    assert "Give a reason for the decision." in client.get(INBOX).content.decode()


def test_a_decision_the_rules_refuse_is_shown_in_words_and_writes_nothing(
    client, clock, agent, agent_and_manager
):
    case = awaiting_approval_case(agent=agent_and_manager, opener=agent)
    _signed_in(client, agent_and_manager)
    with nothing_changed(case):
        _decide(client, case, "approve")
    page = client.get(INBOX).content.decode()
    assert f"You opened or verified {case.reference}; a different person must approve it." in page


@pytest.mark.parametrize(
    "data",
    [
        {"decision": "approve", "reason": "x" * 2001},
        {"decision": "shrug", "reason": REASON},
        {"reason": REASON},
    ],
)
def test_bad_input_is_a_message_not_an_error(client, clock, agent, manager, data):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    with nothing_changed(case):
        response = client.post(reverse("admin:desk:inbox_decide", args=[case.pk]), data)
    assert response.status_code == 302
    page = client.get(INBOX).content.decode()
    assert "Keep the reason under 2000 characters." in page or "Choose Approve or Deny." in page


def test_deciding_a_case_that_is_gone_is_a_404(client, manager):
    _signed_in(client, manager)
    assert (
        client.post("/admin/desk/inbox/999999/decide/", {"decision": "approve"}).status_code == 404
    )


def test_the_inbox_refuses_get_on_the_decision_url(client, clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    assert client.get(reverse("admin:desk:inbox_decide", args=[case.pk])).status_code == 405


# --- the approver's section of the desk home --------------------------------------------------


def test_the_desk_home_tells_an_approver_how_many_cases_wait_and_the_oldest(
    client, clock, agent, manager
):
    made = []
    for _ in range(4):
        made.append(awaiting_approval_case(agent=agent))
        clock.shift(timedelta(minutes=5))
    _signed_in(client, manager)
    page = client.get("/admin/").content.decode()
    assert "4 cases wait for your decision." in page
    assert all(case.reference in page for case in made[:3])
    assert made[3].reference not in page
    assert 'href="/admin/desk/inbox/"' in page


def test_the_desk_home_says_when_nothing_waits(client, manager):
    _signed_in(client, manager)
    assert "Nothing waits for your decision." in client.get("/admin/").content.decode()


def test_an_agent_has_no_approver_section(client, clock, agent):
    awaiting_approval_case(agent=agent)
    _signed_in(client, agent)
    assert "Waiting for your decision" not in client.get("/admin/").content.decode()
