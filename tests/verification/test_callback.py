"""Callback to a phone number of record: attested by the agent, weak (1), never a number the
caller gives, never a recently changed one; callbacks are one factor, counted once."""

from datetime import timedelta

import pytest

from cases.guards import evidence_meets_policy
from directory.models import ChannelOfRecord
from tests.helpers import claimed_case, pass_totp, refused
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
    case = claimed_case(agent=agent)  # the shipped policy: TOTP only
    channel(case.subject, case=case)
    with refused(case, "method_not_allowed", VerificationError):
        check(case, agent)
