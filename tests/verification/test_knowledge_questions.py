"""Knowledge questions (date of birth, last digits of an ID) are never evidence: refused with a
sentence, never offered by the case page, never allowed by a policy, and an attempt to record
one is audited (``evidence.refused``) and counts for nothing."""

import pytest

from audit.models import AuditEvent
from cases.models import PolicyRule
from cases.policy import policy_violations
from tests.helpers import claimed_case, refused
from tests.test_admin import _signed_in
from tests.verification.test_recovery_codes import allow
from verification.errors import VerificationError
from verification.methods import KNOWLEDGE_REFUSED, METHODS
from verification.models import Evidence
from verification.selectors import evidence_summary
from verification.services import evidence_check, evidence_refusal_record

ANSWER = {"date_of_birth": "1980-01-01", "id_last_digits": "1234"}


@pytest.fixture
def case(clock, agent):
    allow()
    return claimed_case(agent=agent)


def test_checking_one_is_refused_with_a_sentence_and_writes_nothing(case, agent):
    with refused(case, "knowledge_refused", VerificationError) as excinfo:
        evidence_check(case=case, method="knowledge_questions", answer=ANSWER, actor=agent)
    assert "never accepted" in str(excinfo.value)


def test_an_attempt_is_audited_and_never_counts(case, agent):
    message = evidence_refusal_record(case=case, method="knowledge_questions", actor=agent)
    assert message == KNOWLEDGE_REFUSED
    event = AuditEvent.objects.get(action="evidence.refused")
    assert (event.case_id, event.actor, event.identity_id) == (case.pk, agent, case.subject_id)
    assert event.detail == {"method": "knowledge_questions", "refusal": "knowledge_refused"}
    assert not Evidence.objects.filter(case=case).exists()
    assert evidence_summary(case=case).score == 0
    case.refresh_from_db()
    assert case.failed_checks == 0


def test_only_refused_methods_are_recorded_that_way(case, agent):
    with refused(case, "unknown_method", VerificationError):
        evidence_refusal_record(case=case, method="totp", actor=agent)


def test_no_method_and_no_policy_offers_them(db):
    assert "knowledge_questions" not in METHODS
    rule = PolicyRule.objects.order_by("pk").first()
    rule.allowed_methods = ["totp", "knowledge_questions"]
    problems = policy_violations([rule])
    assert any("'knowledge_questions' is not an evidence method" in p for p in problems)


def test_the_case_page_offers_nothing_for_them(client, case, agent):
    _signed_in(client, agent)
    html = client.get(f"/admin/desk/cases/{case.pk}/").content.decode()
    assert "knowledge" not in html.lower()


def test_recording_one_through_the_page_is_refused_with_a_message_and_audited(client, case, agent):
    from django.urls import reverse

    _signed_in(client, agent)
    url = reverse("admin:desk:case_evidence", args=[case.pk, "knowledge_questions"])
    response = client.post(url, {"knowledge_questions-date_of_birth": "1980-01-01"})
    assert response.status_code == 409
    assert "Knowledge questions (date of birth, last digits of an ID) prove nothing" in (
        response.content.decode()
    )
    event = AuditEvent.objects.get(action="evidence.refused", case=case)
    assert event.actor == agent
    assert not Evidence.objects.filter(case=case).exists()
