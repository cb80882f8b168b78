"""Audit events read as sentences: every action has one, no raw JSON, no secret, no query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.actions import Action, ActorKind
from audit.describe import WITHHELD, describe, detail_items, redacted
from audit.models import AuditEvent
from cases.states import State
from demo.builders import broken_glass, case_in, close_review, fail_evidence
from directory.models import RiskTier
from tests.cases.factories import make_security_reviewer

RICH_DETAIL = {
    "reason": "Caller could not confirm the ticket",
    "justification": "Executive locked out before a board meeting",
    "method": "totp",
    "outcome": "failed",
    "failures": {"subject": 2, "holder": 2},
    "error": "The directory did not answer.",
    "attempts": 3,
    "directory": {"unlock": 1, "revoke_sessions": 2},
    "approvals": 1,
    "of": 2,
    "score": 2,
    "methods": ["totp"],
    "policy": "Password reset / standard",
    "version": 4,
    "old": {"cooling_off": "0:00:00"},
    "new": {"cooling_off": "4:00:00"},
    "intake_channel": "phone",
    "used_by": "security.erin",
    "findings": "Approvers were on leave",
    "due_at": "2026-11-30T09:00:00Z",
}


def _event(action: str, detail=None, kind=ActorKind.STAFF, **kw) -> AuditEvent:
    """An unsaved event row: describe() needs nothing else."""
    return AuditEvent(
        action=action,
        actor_kind=kind,
        actor_label="agent.alice" if kind == ActorKind.STAFF else kind,
        case_id=kw.pop("case_id", 123),
        identity_id=7,
        old_state=kw.pop("old_state", State.VERIFYING),
        new_state=kw.pop("new_state", State.ESCALATED),
        detail=RICH_DETAIL if detail is None else detail,
        **kw,
    )


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("detail", [RICH_DETAIL, {}, {"odd": {"nested": [1, {"x": None}]}}])
def test_every_action_reads_as_a_sentence_without_raw_json(action, detail):
    event = _event(action, detail)
    sentence = describe(event)
    assert sentence and sentence[0].isupper() or sentence.startswith("agent.")
    assert len(sentence.split()) >= 3, sentence
    for brace in "{}[]":
        assert brace not in sentence, sentence
    for label, value in detail_items(event):
        assert label and value
        for brace in "{}[]":
            assert brace not in value, (label, value)


@pytest.mark.parametrize("kind", [ActorKind.SYSTEM, ActorKind.SUBJECT])
def test_non_staff_actors_are_named_as_such(kind):
    assert describe(_event(Action.CASE_EXPIRE, {}, kind=kind)).startswith(
        "The system" if kind == ActorKind.SYSTEM else "The subject"
    )


def test_the_sentences_people_read_most():
    assert describe(_event(Action.CASE_CLAIM, {})) == "agent.alice claimed the case"
    assert (
        describe(_event(Action.CASE_DENY, {"reason": "No ticket"}))
        == "Approval denied by agent.alice: No ticket"
    )
    failed = describe(
        _event(Action.EVIDENCE_FAILED, {"method": "totp", "failures": {"subject": 2}})
    )
    assert failed == "Evidence failed: TOTP code did not match (2 failures for the subject)"
    glass = describe(
        _event(
            Action.CASE_BREAK_GLASS,
            {"reason": "approvers_unreachable", "justification": "Board meeting in ten minutes"},
        )
    )
    assert glass == (
        "agent.alice broke glass (No eligible approver reachable in time): "
        "Board meeting in ten minutes"
    )


def test_a_refused_knowledge_question_and_issued_recovery_codes_read_as_sentences():
    refused = _event(
        Action.EVIDENCE_REFUSED, {"method": "knowledge_questions", "refusal": "knowledge_refused"}
    )
    assert describe(refused) == (
        "agent.alice tried to record knowledge questions: refused, they prove nothing"
    )
    assert dict(detail_items(refused))["Refused because"] == "knowledge questions prove nothing"
    issued = _event(Action.RECOVERY_CODES_ISSUE, {"count": 10}, old_state="", new_state="")
    assert describe(issued) == (
        "agent.alice issued 10 recovery codes to identity #7; any earlier unused codes no "
        "longer work"
    )
    assert detail_items(issued) == [("Codes issued", "10")]
    by_system = _event(Action.RECOVERY_CODES_ISSUE, {"count": 1}, kind=ActorKind.SYSTEM)
    assert describe(by_system).startswith("The system issued 1 recovery code to identity #7")


@pytest.mark.django_db
def test_real_refusals_and_issued_codes_read_well(agent, clock):
    from tests.helpers import claimed_case
    from verification.services import evidence_refusal_record, recovery_codes_issue

    case = claimed_case(agent=agent)
    evidence_refusal_record(case=case, method="knowledge_questions", actor=agent)
    codes = recovery_codes_issue(identity=case.subject, count=5, actor=agent)
    refused = AuditEvent.objects.get(action=Action.EVIDENCE_REFUSED)
    issued = AuditEvent.objects.get(action=Action.RECOVERY_CODES_ISSUE)
    assert describe(refused) == (
        f"{agent.username} tried to record knowledge questions: refused, they prove nothing"
    )
    sentence = describe(issued)
    assert sentence.startswith(f"{agent.username} issued 5 recovery codes to identity #")
    shown = sentence + " ".join(v for _, v in detail_items(issued))
    assert not any(code in shown for code in codes)


def test_secret_looking_values_are_withheld():
    detail = {
        "code": "123456",
        "otp_token": "abc",
        "password": "hunter2",
        "api_key": "k",
        "note": "654321",
        "reason": "fine",
    }
    event = _event(Action.EVIDENCE_FAILED, detail)
    items = dict(detail_items(event))
    shown = " ".join(items.values()) + describe(event)
    for secret in ("123456", "abc", "hunter2", "654321"):
        assert secret not in shown
    assert items["Code"] == WITHHELD and items["Reason"] == "fine"
    assert redacted(detail) == {**dict.fromkeys(detail, WITHHELD), "reason": "fine"}


def test_odd_detail_shapes_never_raise():
    details: tuple[object, ...] = (None, [], "text", 3, {"failures": "many"}, {"methods": "totp"})
    for detail in details:
        event = _event(Action.EVIDENCE_FAILED, detail)
        event.detail = detail
        assert describe(event)
        detail_items(event)
    unknown = _event("something.new", {})
    assert describe(unknown) == "agent.alice: something.new"


@pytest.mark.django_db
def test_real_events_read_well_and_cost_no_query(agent, other_agent, security_reviewer, clock):
    case_in(State.COMPLETED, agent=agent)
    fail_evidence(case_in(State.VERIFYING, agent=other_agent), other_agent)
    case_in(State.ESCALATED, agent=agent)
    closer = make_security_reviewer(username="security.frank")
    review = broken_glass(agent=agent, reviewer=security_reviewer, tier=RiskTier.PRIVILEGED)
    close_review(review, closer)
    events = list(AuditEvent.objects.order_by("id"))
    with CaptureQueriesContext(connection) as captured:
        sentences = [describe(e) for e in events]
        items = [detail_items(e) for e in events]
    assert len(captured) == 0
    assert all(sentences) and all(isinstance(i, list) for i in items)
    text = "\n".join(sentences)
    assert "agent.alice claimed the case" in text
    assert "Evidence failed: TOTP code did not match" in text
    assert "The system escalated the case to security after repeated failed evidence" in text
    assert "security.erin broke glass (No eligible approver reachable in time)" in text
    assert (
        "security.frank closed the break-glass review of security.erin\u2019s use as justified"
        in text
    )
    assert "The directory carried out the recovery" in text


def test_the_sentence_withholds_what_the_details_withhold():
    """A reason that is nothing but a code (typed in the wrong box) stays out of the summary
    as well as out of the labelled details."""
    event = _event(Action.CASE_FLAG_FRAUD, {"reason": "123456"})
    assert "123456" not in describe(event)
    assert WITHHELD in describe(event)
