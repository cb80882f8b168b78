"""Working a case through its page: every action the page offers moves the case through its
one service (and writes its audit event); a refusal shows its sentence and writes nothing; a
missing reason is refused with a message and the typed words are never lost; unknown actions
and methods are 404s; TOTP codes entered in the form pass and fail and are never shown back;
execute asks for confirmation, warns on a break-glass case and says afterwards what changed."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditEvent
from cases.execution import execution_run
from cases.models import BreakGlassReview, RecoveryCase
from cases.states import Kind, State
from demo import builders
from tests.cases.factories import UserFactory
from tests.directory.factories import AuthenticatorFactory
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    case_in,
    claimed_case,
    escalated_case,
    execution_failed_case,
    nothing_changed,
    ready_case,
    verifiable,
    wrong_code,
)
from tests.test_admin import _signed_in
from verification.models import Evidence

pytestmark = pytest.mark.django_db

REASON = "Spoke to the subject's manager on a known number"


def act(client, case, action, **data):
    return client.post(reverse("admin:desk:case_act", args=[case.pk, action]), data)


def reasoned(action: str, reason: str = REASON) -> dict:
    return {f"{action}-reason": reason}


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def state_of(case) -> str:
    return RecoveryCase.objects.get(pk=case.pk).state


def last_event(case) -> AuditEvent:
    return AuditEvent.objects.filter(case=case).order_by("-id").first()


# --- each action through the page ---------------------------------------------------------


def test_claim_from_the_page(client, agent, other_agent):
    case = case_in(State.NEW, agent=agent)
    _signed_in(client, other_agent)
    response = act(client, case, "claim")
    assert response.status_code == 302
    assert response.url == reverse("admin:desk:case", args=[case.pk])
    assert state_of(case) == State.VERIFYING
    assert (last_event(case).action, last_event(case).actor) == ("case.claim", other_agent)
    assert f"You claimed {case.reference}." in messages_of(response)


def test_close_verification_from_the_page(client, agent):
    case = verifiable(agent)
    _signed_in(client, agent)
    response = act(client, case, "verify")
    assert response.status_code == 302
    assert state_of(case) == State.READY  # a standard reset: no approval, no hold
    assert last_event(case).action == "case.verify"
    assert "Verification closed" in messages_of(response)[0]


def test_flag_fraud_with_a_reason(client, agent, other_agent):
    case = ready_case(agent=agent)
    _signed_in(client, other_agent)
    assert act(client, case, "flag_fraud", **reasoned("flag_fraud")).status_code == 302
    assert state_of(case) == State.ESCALATED
    event = last_event(case)
    assert (event.action, event.detail["reason"]) == ("case.flag_fraud", REASON)


def test_release_by_a_security_reviewer(client, agent, security_reviewer):
    case = escalated_case(agent=agent)
    _signed_in(client, security_reviewer)
    assert act(client, case, "release", **reasoned("release")).status_code == 302
    assert state_of(case) == State.VERIFYING
    assert last_event(case).action == "case.release"


def test_reject_by_the_assigned_agent(client, agent):
    case = claimed_case(agent=agent)
    _signed_in(client, agent)
    assert act(client, case, "reject", **reasoned("reject")).status_code == 302
    case.refresh_from_db()
    assert (case.state, case.closing_reason) == (State.REJECTED, REASON)
    assert last_event(case).action == "case.reject"


def test_approve_records_the_reason(client, agent, manager):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    response = act(client, case, "approve", **reasoned("approve"))
    assert response.status_code == 302
    approval = case.approvals.get()
    assert (approval.approver, approval.reason) == (manager, REASON)
    assert last_event(case).action == "approval.grant"  # one of two: the case waits
    assert state_of(case) == State.AWAITING_APPROVAL


def test_deny_rejects_the_case(client, agent, manager):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, manager)
    assert act(client, case, "deny", **reasoned("deny")).status_code == 302
    assert state_of(case) == State.REJECTED
    assert last_event(case).detail["reason"] == REASON


def test_gap_release_by_a_security_reviewer(client, agent, security_reviewer):
    case = claimed_case(agent=agent)
    _signed_in(client, security_reviewer)
    assert act(client, case, "gap_release", **reasoned("gap_release")).status_code == 302
    case.refresh_from_db()
    assert case.gap_released_by == security_reviewer
    assert last_event(case).action == "case.gap_release"


def test_break_glass_with_a_listed_reason_and_a_justification(client, agent, security_reviewer):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, security_reviewer)
    response = act(
        client,
        case,
        "break_glass",
        **{
            "break_glass-reason": "approvers_unreachable",
            "break_glass-justification": JUSTIFICATION,
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.state, case.break_glass_reason) == (State.READY, "approvers_unreachable")
    assert last_event(case).action == "case.break_glass"
    assert BreakGlassReview.objects.filter(case=case).exists()


def test_a_thin_justification_is_refused_and_kept(client, agent, security_reviewer):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, security_reviewer)
    typed = "urgent urgent urgent urgent"
    with nothing_changed(case):
        response = act(
            client,
            case,
            "break_glass",
            **{"break_glass-reason": "service_outage", "break_glass-justification": typed},
        )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Break-glass needs a written justification" in html
    assert typed in html  # never lose what was typed
    assert 'value="service_outage" selected' in html


def test_retry_and_abandon_after_the_directory_failed(client, agent, other_agent):
    failed = execution_failed_case(agent=agent)
    _signed_in(client, agent)
    assert act(client, failed, "retry_execution").status_code == 302
    assert state_of(failed) == State.EXECUTING
    assert last_event(failed).action == "case.retry_execution"

    other = execution_failed_case(agent=agent)
    _signed_in(client, other_agent)
    assert act(client, other, "abandon", **reasoned("abandon")).status_code == 302
    other.refresh_from_db()
    assert (other.state, other.closing_reason) == (State.ABANDONED, REASON)


# --- refusals, missing reasons, bad input --------------------------------------------------


def test_a_refused_action_shows_the_refusal_sentence_and_keeps_the_reason(
    client, agent, other_agent
):
    case = claimed_case(agent=agent)
    _signed_in(client, other_agent)
    typed = "The caller sounded coached"
    with nothing_changed(case):
        response = act(client, case, "reject", **reasoned("reject", typed))
    assert response.status_code == 409
    html = response.content.decode()
    assert f"Only the agent who claimed {case.reference} may do this." in html
    assert typed in html


def test_a_missing_reason_is_refused_with_a_message(client, agent):
    case = claimed_case(agent=agent)
    _signed_in(client, agent)
    for blank in ({}, reasoned("reject", "   ")):
        with nothing_changed(case):
            response = act(client, case, "reject", **blank)
        assert response.status_code == 400
        assert "Give a reason: it goes into the audit trail." in response.content.decode()


def test_a_break_glass_without_a_listed_reason_is_refused_and_the_justification_kept(
    client, agent, security_reviewer
):
    case = awaiting_approval_case(agent=agent)
    _signed_in(client, security_reviewer)
    with nothing_changed(case):
        response = act(
            client,
            case,
            "break_glass",
            **{"break_glass-reason": "because", "break_glass-justification": JUSTIFICATION},
        )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert JUSTIFICATION in html


def test_an_action_a_state_does_not_allow_says_so(client, agent):
    case = ready_case(agent=agent)
    _signed_in(client, agent)
    with nothing_changed(case):
        response = act(client, case, "claim")
    assert response.status_code == 409
    assert "is ready; &#x27;claim&#x27; is not possible from there." in response.content.decode()


@pytest.mark.parametrize("action", ["dance", "end_hold", "expire", "dispute", "execute"])
def test_an_action_the_page_does_not_offer_is_a_404(client, agent, action):
    case = claimed_case(agent=agent)
    _signed_in(client, agent)
    with nothing_changed(case):
        assert act(client, case, action).status_code == 404


def test_acting_on_an_unknown_case_is_a_404(client, agent):
    _signed_in(client, agent)
    url = reverse("admin:desk:case_act", args=[999999, "claim"])
    assert client.post(url).status_code == 404


def test_acting_needs_a_post(client, agent):
    case = case_in(State.NEW, agent=agent)
    _signed_in(client, agent)
    assert client.get(reverse("admin:desk:case_act", args=[case.pk, "claim"])).status_code == 405


def test_someone_with_no_role_cannot_act(client, agent):
    case = case_in(State.NEW, agent=agent)
    _signed_in(client, UserFactory(username="no.role"))
    with nothing_changed(case):
        assert act(client, case, "claim").status_code == 403


# --- evidence through the form -------------------------------------------------------------


def check(client, case, authenticator, code):
    url = reverse("admin:desk:case_evidence", args=[case.pk, "totp"])
    return client.post(url, {"totp-authenticator": authenticator.pk, "totp-code": code})


@pytest.fixture
def reading(agent, clock):
    case = claimed_case(agent=agent)
    return case, AuthenticatorFactory(identity=case.subject, label="Work phone")


def test_a_correct_code_entered_in_the_form_passes(client, agent, reading):
    case, authenticator = reading
    _signed_in(client, agent)
    code = builders.current_code(authenticator)
    response = check(client, case, authenticator, code)
    assert response.status_code == 302
    evidence = Evidence.objects.get(case=case)
    assert (evidence.outcome, evidence.authenticator) == (Evidence.Outcome.PASSED, authenticator)
    assert last_event(case).action == "evidence.passed"
    assert any(m.startswith("Evidence passed") for m in messages_of(response))
    html = client.get(reverse("admin:desk:case", args=[case.pk])).content.decode()
    assert code not in html and authenticator.key not in html
    assert 'data-action="verify"' in html and not re.search(r'data-action="verify" disabled', html)


def test_a_wrong_code_fails_and_is_recorded(client, agent, reading):
    case, authenticator = reading
    _signed_in(client, agent)
    response = check(client, case, authenticator, wrong_code(authenticator))
    assert response.status_code == 302
    assert Evidence.objects.get(case=case).outcome == Evidence.Outcome.FAILED
    assert last_event(case).action == "evidence.failed"
    assert any("did not match" in m for m in messages_of(response))


def test_failures_up_to_the_limit_escalate_and_the_page_says_so(client, agent, reading):
    case, authenticator = reading
    _signed_in(client, agent)
    for _ in range(3):
        response = check(client, case, authenticator, wrong_code(authenticator))
    assert state_of(case) == State.ESCALATED
    assert any("escalated to security" in m for m in messages_of(response))


def test_a_malformed_code_is_refused_and_never_shown_back(client, agent, reading):
    case, authenticator = reading
    _signed_in(client, agent)
    with nothing_changed(case):
        response = check(client, case, authenticator, "12ab56")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Type only the digits the caller reads out." in html
    assert "12ab56" not in html


def test_a_code_of_the_wrong_length_is_refused_by_the_method_and_not_shown(client, agent, reading):
    case, authenticator = reading
    _signed_in(client, agent)
    with nothing_changed(case):
        response = check(client, case, authenticator, "1234")
    assert response.status_code == 409
    html = response.content.decode()
    assert "A code from this authenticator is 6 digits." in html
    assert 'value="1234"' not in html


def test_an_authenticator_of_someone_else_is_refused(client, agent, reading):
    case, _ = reading
    stranger = AuthenticatorFactory()
    _signed_in(client, agent)
    with nothing_changed(case):
        response = check(client, case, stranger, builders.current_code(stranger))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_authenticator_being_replaced_is_not_offered_nor_accepted(client, agent):
    case = claimed_case(agent=agent, kind=Kind.MFA_REBIND)
    _signed_in(client, agent)
    lost = case.replaced_authenticator
    with nothing_changed(case):
        response = check(client, case, lost, builders.current_code(lost))
    assert response.status_code == 400


def test_an_agent_who_did_not_claim_the_case_cannot_check_evidence(
    client, agent, other_agent, reading
):
    case, authenticator = reading
    _signed_in(client, other_agent)
    html = client.get(reverse("admin:desk:case", args=[case.pk])).content.decode()
    assert 'name="totp-code"' not in html
    assert f"Only the agent who claimed {case.reference} may do this." in html
    with nothing_changed(case):
        response = check(client, case, authenticator, builders.current_code(authenticator))
    assert response.status_code == 409


def test_an_unknown_evidence_method_is_a_404(client, agent, reading):
    """Knowledge questions are known, and refused (tests/verification/test_knowledge_questions)."""
    case, _ = reading
    _signed_in(client, agent)
    for method in ("sms", "carrier_pigeon"):
        url = reverse("admin:desk:case_evidence", args=[case.pk, method])
        assert client.post(url, {}).status_code == 404


# --- execute, confirmed --------------------------------------------------------------------


def execute_url(case) -> str:
    return reverse("admin:desk:case_execute", args=[case.pk])


def test_execute_asks_for_confirmation_then_says_what_changed(client, agent):
    case = ready_case(agent=agent)
    _signed_in(client, agent)
    page = client.get(execute_url(case)).content.decode()
    assert "Executing will, on the directory:" in page
    assert "End every open session of the account." in page
    assert state_of(case) == State.READY  # a GET changes nothing

    response = client.post(execute_url(case), {})
    assert response.status_code == 302
    assert state_of(case) == State.EXECUTING
    assert last_event(case).action == "case.execute"
    html = client.get(reverse("admin:desk:case", args=[case.pk])).content.decode()
    assert "The directory step runs in the background" in html

    execution_run(case_id=case.pk)  # what the worker does once the case is committed
    html = client.get(reverse("admin:desk:case", args=[case.pk])).content.decode()
    assert "Done: what changed" in html
    assert "Tell the caller" in html


def test_execute_on_a_break_glass_case_warns_and_needs_the_warning_read(
    client, agent, security_reviewer
):
    case = ready_case(agent=agent, reviewer=security_reviewer)
    _signed_in(client, agent)
    page = client.get(execute_url(case)).content.decode()
    assert "Break-glass case." in page
    assert case.break_glass_justification in page
    with nothing_changed(case):
        response = client.post(execute_url(case), {})
    assert response.status_code == 400
    assert "Confirm you have read the break-glass warning." in response.content.decode()
    response = client.post(execute_url(case), {"break_glass_read": "on"})
    assert response.status_code == 302
    assert state_of(case) == State.EXECUTING


def test_execute_refused_says_why_and_offers_no_button(client, agent, other_agent):
    case = ready_case(agent=agent)
    _signed_in(client, other_agent)
    page = client.get(execute_url(case)).content.decode()
    assert f"Only the agent who claimed {case.reference} may do this." in page
    assert "Execute now" not in page
    with nothing_changed(case):
        response = client.post(execute_url(case), {})
    assert response.status_code == 409
    assert f"Only the agent who claimed {case.reference} may do this." in response.content.decode()


def test_pass_totp_then_verify_then_execute_end_to_end(client, agent):
    """The agent's whole path on one page: evidence, verification, execution."""
    case = claimed_case(agent=agent)
    authenticator = AuthenticatorFactory(identity=case.subject)
    _signed_in(client, agent)
    assert (
        check(client, case, authenticator, builders.current_code(authenticator)).status_code == 302
    )
    assert act(client, case, "verify").status_code == 302
    assert client.post(execute_url(case), {}).status_code == 302
    execution_run(case_id=case.pk)
    assert state_of(case) == State.COMPLETED
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions[-4:] == ["evidence.passed", "case.verify", "case.execute", "case.execution_done"]
