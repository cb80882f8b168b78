"""In-person document checks: attested by the agent, recording who checked, the document type
and only the last 4 characters of its number; allowed only where the policy lists it. The case
page draws the new methods' forms (each plugin's ``form_class``)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from cases.models import PolicyRule
from cases.policy import policy_violations
from directory.models import ChannelOfRecord
from tests.helpers import claimed_case, refused
from tests.test_admin import _signed_in
from tests.verification.test_recovery_codes import allow
from verification.errors import VerificationError
from verification.models import Evidence
from verification.selectors import evidence_summary
from verification.services import evidence_check

SEEN = {"document_type": "passport", "reference": "123x", "seen": True}

# The table proposed for the shipped policies (docs/design.md "Policy"): a riskier tier's
# methods are a subset of the tier below's.
PROPOSED = {
    "standard": ["totp", "recovery_codes", "in_person", "callback"],
    "contractor": ["totp", "recovery_codes", "in_person", "callback"],
    "privileged": ["totp", "recovery_codes", "in_person"],
    "service": ["totp", "in_person"],
}


def check(case, agent, **answer) -> Evidence:
    return evidence_check(case=case, method="in_person", answer={**SEEN, **answer}, actor=agent)


@pytest.fixture
def case(clock, agent):
    allow()
    return claimed_case(agent=agent)


def test_a_complete_check_passes_and_records_who_and_what(case, agent):
    evidence = check(case, agent)
    assert (evidence.outcome, evidence.score, evidence.factor) == ("passed", 2, "in_person")
    assert evidence.checked_by == agent
    assert evidence.detail == {"document_type": "passport", "reference_last4": "123X"}
    assert evidence_summary(case=case).factors == {"in_person"}


@pytest.mark.parametrize(
    "answer",
    [
        {"seen": False},
        {"seen": "yes"},
        {"document_type": "library_card"},
        {"reference": "AB12345"},  # a full number is never recorded
        {"reference": "12"},
        {"reference": "12-4"},
    ],
)
def test_an_incomplete_check_is_refused_and_writes_nothing(case, agent, answer):
    with refused(case, "incomplete_check", VerificationError):
        check(case, agent, **answer)


def test_only_where_the_policy_allows_it(clock, agent):
    allow(["totp"])  # a policy that accepts TOTP only
    case = claimed_case(agent=agent)
    with refused(case, "method_not_allowed", VerificationError):
        check(case, agent)


def test_the_proposed_policy_table_keeps_riskier_tiers_no_easier(db):
    rules = list(PolicyRule.objects.all())
    for rule in rules:
        rule.allowed_methods = PROPOSED[rule.risk_tier]
    assert policy_violations(rules) == []
    for rule in rules:
        if rule.risk_tier == "service":
            rule.allowed_methods = [*PROPOSED["service"], "callback"]
    problems = policy_violations(rules)  # the privileged tier does not accept a callback
    assert len(problems) == 3 and all("Service tier would be easier" in p for p in problems)


# --- the case page ---------------------------------------------------------------------------


def page(client, case, agent) -> str:
    _signed_in(client, agent)
    response = client.get(f"/admin/desk/cases/{case.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_case_page_draws_a_form_for_each_method_the_policy_allows(client, case, agent):
    phone = ChannelOfRecord.objects.create(
        identity=case.subject, kind="sms", address="+447700900123"
    )
    ChannelOfRecord.objects.filter(pk=phone.pk).update(added_at=case.opened_at - timedelta(days=90))
    html = page(client, case, agent)
    for name in (
        "recovery_codes-code",
        "in_person-document_type",
        "in_person-reference",
        "in_person-seen",
        "callback-channel",
        "callback-answered",
    ):
        assert f'name="{name}"' in html, name
    assert "Record the check" in html and "Record the callback" in html
    assert "knowledge" not in html.lower()


def test_the_case_page_offers_no_form_the_policy_does_not_allow(client, clock, agent):
    allow(["totp"])
    html = page(client, claimed_case(agent=agent), agent)
    assert 'name="in_person-reference"' not in html
    assert "does not accept in-person document check as evidence" in html


def test_an_in_person_check_through_the_page(client, case, agent):
    _signed_in(client, agent)
    url = reverse("admin:desk:case_evidence", args=[case.pk, "in_person"])
    response = client.post(
        url,
        {
            "in_person-document_type": "driving_licence",
            "in_person-reference": "9A7B",
            "in_person-seen": "on",
        },
    )
    assert response.status_code == 302
    evidence = Evidence.objects.get(case=case)
    assert evidence.detail == {"document_type": "driving_licence", "reference_last4": "9A7B"}
    html = client.get(response.url).content.decode()
    assert "Evidence passed: In-person document check (scores 2)." in html


def test_a_full_document_number_is_refused_by_the_page(client, case, agent):
    _signed_in(client, agent)
    url = reverse("admin:desk:case_evidence", args=[case.pk, "in_person"])
    response = client.post(
        url,
        {
            "in_person-document_type": "passport",
            "in_person-reference": "AB1234567",
            "in_person-seen": "on",
        },
    )
    assert response.status_code == 400
    assert not Evidence.objects.filter(case=case).exists()
    assert "AB1234567" not in response.content.decode()


def test_a_callback_through_the_page(client, case, agent):
    channel = ChannelOfRecord.objects.create(
        identity=case.subject, kind="voice", address="+44 20 7946 0958"
    )
    ChannelOfRecord.objects.filter(pk=channel.pk).update(
        added_at=case.opened_at - timedelta(days=60)
    )
    _signed_in(client, agent)
    url = reverse("admin:desk:case_evidence", args=[case.pk, "callback"])
    response = client.post(url, {"callback-channel": channel.pk, "callback-answered": "on"})
    assert response.status_code == 302
    evidence = Evidence.objects.get(case=case)
    assert (evidence.method, evidence.score, evidence.detail["channel"]) == (
        "callback",
        1,
        channel.pk,
    )
    assert re.search(
        r"Call back to a phone number of record", client.get(response.url).content.decode()
    )
