"""Callback to a phone number of record: attested by the agent, weak (1), never a number the
caller gives, never a recently changed one; callbacks are one factor, counted once."""

from datetime import timedelta

import pytest
from django.urls import reverse

from cases.guards import evidence_meets_policy
from directory.models import ChannelOfRecord, RiskTier
from tests.directory.factories import IdentityFactory
from tests.helpers import claimed_case, pass_totp, refused
from tests.test_admin import _signed_in
from tests.verification.test_recovery_codes import allow
from verification.errors import VerificationError
from verification.models import Evidence
from verification.selectors import evidence_summary
from verification.services import evidence_check


def channel(identity, kind="sms", address="+44 7700 900123", age=timedelta(days=90), *, case):
    made = ChannelOfRecord.objects.create(identity=identity, kind=kind, address=address)
    ChannelOfRecord.objects.filter(pk=made.pk).update(added_at=case.opened_at - age)
    return made


def check(case, agent, ending="0123", answered=True) -> Evidence:
    return evidence_check(
        case=case,
        method="callback",
        answer={"number_ending": ending, "answered": answered},
        actor=agent,
    )


@pytest.fixture
def case(clock, agent):
    allow()
    return claimed_case(agent=agent)


def test_a_callback_to_a_number_of_record_passes_weakly(case, agent):
    phone = channel(case.subject, case=case)
    evidence = check(case, agent)
    assert (evidence.outcome, evidence.score, evidence.factor) == ("passed", 1, "phone_of_record")
    assert evidence.detail == {"channel": phone.pk, "channel_kind": "sms", "number_ending": "0123"}
    assert evidence.checked_by == agent


def test_two_callbacks_count_once_and_never_suffice_alone(case, agent, clock):
    channel(case.subject, case=case)
    channel(case.subject, kind="voice", address="+44 20 7946 0999", case=case)
    check(case, agent)
    check(case, agent, ending="0999")
    summary = evidence_summary(case=case)
    assert (summary.score, summary.factors) == (1, {"phone_of_record"})
    refusal = evidence_meets_policy(case, agent, case.opened_at)
    assert refusal is not None and refusal.code == "insufficient_evidence"
    pass_totp(case, agent)
    summary = evidence_summary(case=case)
    assert (summary.score, summary.factors) == (3, {"phone_of_record", "enrolled_authenticator"})


def test_a_number_not_on_record_is_refused(case, agent):
    channel(case.subject, case=case)
    with refused(case, "bad_channel", VerificationError):
        check(case, agent, ending="4567")


def test_an_email_channel_is_not_a_number_to_call(case, agent):
    channel(case.subject, kind="email", address="someone0123@example.test", case=case)
    with refused(case, "bad_channel", VerificationError):
        check(case, agent)


def test_another_persons_number_is_refused(case, agent):
    from tests.directory.factories import IdentityFactory

    channel(IdentityFactory(), case=case)
    with refused(case, "bad_channel", VerificationError):
        check(case, agent)


def test_a_recently_changed_number_is_refused(case, agent):
    channel(case.subject, age=timedelta(days=3), case=case)
    with refused(case, "recent_channel", VerificationError):
        check(case, agent)


@pytest.mark.parametrize("answer", [{"answered": False}, {"ending": "12"}, {"ending": "12ab"}])
def test_an_incomplete_attestation_is_refused(case, agent, answer):
    channel(case.subject, case=case)
    with refused(case, "incomplete_check", VerificationError):
        check(case, agent, **answer)


def test_only_where_the_policy_allows_it(clock, agent):
    allow(["totp"])  # a policy that accepts TOTP only
    case = claimed_case(agent=agent)
    channel(case.subject, case=case)
    with refused(case, "method_not_allowed", VerificationError):
        check(case, agent)


# --- the case page: a choice of the numbers of record, never a typed number ------------------


def page(client, case, agent) -> str:
    _signed_in(client, agent)
    response = client.get(f"/admin/desk/cases/{case.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def post(client, case, agent, data):
    _signed_in(client, agent)
    return client.post(reverse("admin:desk:case_evidence", args=[case.pk, "callback"]), data)


def test_the_page_offers_the_holders_phones_of_record_masked_with_their_age(client, case, agent):
    sms = channel(case.subject, case=case, age=timedelta(days=200))
    voice = channel(case.subject, kind="voice", address="+44 20 7946 0999", case=case)
    channel(case.subject, kind="email", address="rita0123@example.test", case=case)
    html = page(client, case, agent)
    assert 'name="callback-channel"' in html
    assert 'name="callback-number_ending"' not in html  # nothing to type a number into
    start = html.index('name="callback-channel"')
    select = html[start : html.index("</select>", start)]
    assert f'value="{sms.pk}"' in select and f'value="{voice.pk}"' in select
    assert "SMS •••• 0123, on record since 2026-05-14" in select
    assert "Voice call •••• 0999" in select
    assert "7700" not in select and "example.test" not in select
    assert select.count("<option") == 2  # never the email


def test_a_recent_number_is_offered_marked_and_refused(client, case, agent):
    recent = channel(case.subject, age=timedelta(days=3), case=case)
    assert "added recently: it cannot prove who calls" in page(client, case, agent)
    response = post(client, case, agent, {"callback-channel": recent.pk, "callback-answered": "on"})
    assert response.status_code == 409
    assert not Evidence.objects.filter(case=case).exists()


def test_the_chosen_number_is_the_one_recorded(client, case, agent):
    channel(case.subject, case=case)
    voice = channel(case.subject, kind="voice", address="+44 20 7946 0999", case=case)
    response = post(client, case, agent, {"callback-channel": voice.pk, "callback-answered": "on"})
    assert response.status_code == 302
    evidence = Evidence.objects.get(case=case)
    assert evidence.detail == {
        "channel": voice.pk,
        "channel_kind": "voice",
        "number_ending": "0999",
    }


@pytest.mark.parametrize("field", ["someone_elses", "email", "typed"])
def test_only_a_listed_number_may_be_chosen(client, case, agent, field):
    channel(case.subject, case=case)
    others = {
        "someone_elses": lambda: channel(IdentityFactory(), case=case).pk,
        "email": lambda: (
            channel(case.subject, kind="email", address="x0123@example.test", case=case).pk
        ),
        "typed": lambda: "+44 7700 900123",
    }
    response = post(
        client, case, agent, {"callback-channel": others[field](), "callback-answered": "on"}
    )
    assert response.status_code == 400
    assert not Evidence.objects.filter(case=case).exists()


def test_no_phone_of_record_means_no_form_and_says_why(client, case, agent):
    channel(case.subject, kind="email", address="x0123@example.test", case=case)
    html = page(client, case, agent)
    assert 'name="callback-channel"' not in html
    assert "No SMS or voice number of record to call back" in html


def test_a_service_identity_is_called_back_on_its_owners_number(client, clock, agent):
    allow(tier=RiskTier.SERVICE)
    owner = IdentityFactory()
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    case = claimed_case(agent=agent, subject=service)
    own = channel(service, address="+44 7700 900111", case=case)
    owners = channel(owner, address="+44 7700 900222", case=case)
    html = page(client, case, agent)
    start = html.index('name="callback-channel"')
    select = html[start : html.index("</select>", start)]
    assert f'value="{owners.pk}"' in select and f'value="{own.pk}"' not in select
