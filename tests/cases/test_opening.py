"""Opening a case (``case_open``): a clear refusal for an unknown kind or channel, one open
case per (subject, kind) in the service and in the database, a re-bind naming an active
authenticator of the subject to replace, and a disabled account reactivated before anything
else (docs/design.md "The rules table", opening)."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.errors import CaseError
from cases.models import RecoveryCase
from cases.services import case_open
from cases.states import Kind, State
from directory.models import AccountState, Authenticator
from tests.cases.builders import open_case
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import refused, rejected_case


def test_opening_a_case_of_an_unknown_kind_is_a_clear_refusal(agent):
    with pytest.raises(CaseError) as refused:
        case_open(actor=agent, subject=IdentityFactory(), kind="teleport", intake_channel="phone")
    assert refused.value.code == "unknown_kind"


def test_opening_a_case_from_an_unknown_channel_is_a_clear_refusal(agent):
    with pytest.raises(CaseError) as refused:
        case_open(
            actor=agent, subject=IdentityFactory(), kind=Kind.PASSWORD_RESET, intake_channel="fax"
        )
    assert refused.value.code == "unknown_channel"


def test_a_second_open_case_for_the_same_subject_and_kind_is_refused(clock, agent):
    case = open_case(opener=agent)
    with refused(case, code="duplicate_case"):
        open_case(opener=agent, subject=case.subject)


def test_the_database_refuses_a_second_open_case_for_the_same_subject_and_kind(clock, agent):
    case = open_case(opener=agent)
    duplicate = RecoveryCase.objects.filter(pk=case.pk).values().get()
    del duplicate["id"]
    with pytest.raises(IntegrityError), transaction.atomic():
        RecoveryCase.objects.create(**duplicate)


def test_the_database_allows_the_same_row_once_the_first_case_is_closed(clock, agent):
    case = rejected_case(agent=agent)
    duplicate = RecoveryCase.objects.filter(pk=case.pk).values().get()
    del duplicate["id"]
    duplicate.update(state=State.NEW, assigned_agent_id=None, verified_by_id=None)
    assert RecoveryCase.objects.create(**duplicate).pk != case.pk


def test_a_closed_case_does_not_block_a_new_one(clock, agent):
    first = rejected_case(agent=agent)
    second = open_case(opener=agent, subject=first.subject)
    assert second.state == State.NEW


def _rebind_attempt_for(subject, agent, authenticator, *, kind=Kind.MFA_REBIND):
    return open_case(opener=agent, kind=kind, subject=subject, replaced_authenticator=authenticator)


def test_a_rebind_cannot_name_another_persons_authenticator_for_replacement(clock, agent):
    subject = IdentityFactory()
    witness = open_case(opener=agent, subject=subject)  # any write would show on it
    someone_elses = AuthenticatorFactory(identity=IdentityFactory())
    with refused(witness, code="bad_authenticator"):
        _rebind_attempt_for(subject, agent, someone_elses)


def test_a_rebind_cannot_name_a_revoked_authenticator_for_replacement(clock, agent):
    subject = IdentityFactory()
    witness = open_case(opener=agent, subject=subject)
    revoked = AuthenticatorFactory(identity=subject)
    Authenticator.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    revoked.refresh_from_db()
    with refused(witness, code="bad_authenticator"):
        _rebind_attempt_for(subject, agent, revoked)


def test_a_password_reset_cannot_name_an_authenticator_to_replace(clock, agent):
    subject = IdentityFactory(account_state=AccountState.LOCKED)  # may have a reactivation open
    witness = open_case(opener=agent, subject=subject, kind=Kind.REACTIVATION)
    own_active = AuthenticatorFactory(identity=subject)
    with refused(witness, code="bad_authenticator"):
        _rebind_attempt_for(subject, agent, own_active, kind=Kind.PASSWORD_RESET)


@pytest.mark.parametrize("kind", [Kind.PASSWORD_RESET, Kind.MFA_REBIND])
def test_a_disabled_account_gets_no_reset_or_rebind_before_its_reactivation(clock, agent, kind):
    subject = IdentityFactory(account_state=AccountState.DISABLED)
    witness = open_case(opener=agent, kind=Kind.REACTIVATION, subject=subject)
    with refused(witness, code="account_disabled") as excinfo:
        open_case(opener=agent, kind=kind, subject=subject)
    assert "reactivation case" in str(excinfo.value)
