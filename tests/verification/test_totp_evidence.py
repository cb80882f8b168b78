"""TOTP evidence: a well-formed code checked by the system, single-use, rate-limited,
independent of what is being recovered (a re-bind that replaces every authenticator accepts
none), proved by a service identity's owner, and the key never leaves the server."""

import json
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from audit.models import AuditEvent
from cases.models import RecoveryCase
from cases.services import case_release
from cases.states import Kind, State
from directory.models import Authenticator, RiskTier
from tests.cases.builders import check_totp, current_code
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import claimed_case, nothing_changed, read_code, refused, wrong_code
from verification.errors import VerificationError
from verification.models import Evidence
from verification.selectors import evidence_summary

# The shipped policies allow three failed checks within 24 hours (cases.PolicyRule).
LIMIT = 3


@pytest.fixture
def case(clock, agent):
    return claimed_case(agent=agent)


@pytest.fixture
def authenticator(case):
    return AuthenticatorFactory(identity=case.subject)


def check(case, authenticator, token, actor):
    return check_totp(case=case, authenticator=authenticator, token=token, actor=actor)


def test_a_correct_code_passes_and_scores(case, authenticator, agent):
    evidence = check(case, authenticator, current_code(authenticator), agent)
    assert (evidence.outcome, evidence.score) == (Evidence.Outcome.PASSED, 2)
    assert evidence_summary(case=case).score == 2


def test_a_code_read_twice_is_a_replay(case, authenticator, agent):
    code = current_code(authenticator)
    check(case, authenticator, code, agent)
    assert check(case, authenticator, code, agent).outcome == Evidence.Outcome.FAILED


def test_a_code_from_an_earlier_step_after_a_later_one_is_a_replay(
    case, authenticator, agent, clock
):
    earlier = current_code(authenticator)
    clock.shift(timedelta(seconds=authenticator.step))
    check(case, authenticator, current_code(authenticator), agent)
    assert check(case, authenticator, earlier, agent).outcome == Evidence.Outcome.FAILED


def test_a_wrong_code_fails_and_counts(case, authenticator, agent):
    evidence = check(case, authenticator, wrong_code(authenticator), agent)
    case.refresh_from_db()
    assert (evidence.outcome, evidence.score, case.failed_checks) == (
        Evidence.Outcome.FAILED,
        0,
        1,
    )


def test_failures_below_the_limit_leave_the_case_verifying(case, authenticator, agent):
    for _ in range(LIMIT - 1):
        check(case, authenticator, wrong_code(authenticator), agent)
    case.refresh_from_db()
    assert case.state == State.VERIFYING


def test_too_many_failures_escalate_the_case_with_one_audit_event(case, authenticator, agent):
    for _ in range(LIMIT - 1):
        check(case, authenticator, wrong_code(authenticator), agent)
    last_event = AuditEvent.objects.latest("id").pk
    check(case, authenticator, wrong_code(authenticator), agent)
    case.refresh_from_db()
    assert (case.state, case.escalated_at) == (State.ESCALATED, timezone.now())
    events = list(AuditEvent.objects.filter(pk__gt=last_event))
    assert [(e.action, e.actor_kind, e.old_state, e.new_state) for e in events] == [
        ("case.escalate", "system", State.VERIFYING, State.ESCALATED)
    ]


def test_an_escalated_case_takes_no_more_evidence(case, authenticator, agent):
    for _ in range(LIMIT):
        check(case, authenticator, wrong_code(authenticator), agent)
    with refused(case, code="wrong_state"):
        check(case, authenticator, current_code(authenticator), agent)


def test_a_security_reviewer_sends_an_escalated_case_back_to_verifying(
    case, authenticator, agent, security_reviewer
):
    for _ in range(LIMIT):
        check(case, authenticator, wrong_code(authenticator), agent)
    case = case_release(case=case, actor=security_reviewer, reason="Called back the subject")
    case.refresh_from_db()
    assert (case.state, case.failed_checks) == (State.VERIFYING, 0)
    assert case.released_at == timezone.now()


def test_a_malformed_code_is_refused_and_writes_nothing(case, authenticator, agent):
    with refused(case, code="malformed_code", error=VerificationError):
        check(case, authenticator, "12ab", agent)


def test_another_subjects_authenticator_is_refused(case, agent):
    stranger = AuthenticatorFactory()
    with refused(case, code="bad_authenticator", error=VerificationError):
        check(case, stranger, current_code(stranger), agent)


def test_a_revoked_authenticator_is_refused(case, authenticator, agent):
    authenticator.revoked_at = timezone.now()
    authenticator.save(update_fields=["revoked_at"])
    with refused(case, code="bad_authenticator", error=VerificationError):
        check(case, authenticator, current_code(authenticator), agent)


def test_the_authenticator_being_replaced_cannot_verify_an_mfa_rebind(clock, agent):
    case = claimed_case(agent=agent, kind=Kind.MFA_REBIND)
    lost = case.replaced_authenticator
    with refused(case, code="not_independent", error=VerificationError):
        check(case, lost, current_code(lost), agent)


def test_another_authenticator_can_verify_an_mfa_rebind(clock, agent):
    case = claimed_case(agent=agent, kind=Kind.MFA_REBIND)
    spare = AuthenticatorFactory(identity=case.subject, label="spare")
    assert check(case, spare, current_code(spare), agent).outcome == Evidence.Outcome.PASSED


def test_only_the_assigned_agent_may_check_evidence(case, authenticator, other_agent):
    with refused(case, code="not_assigned"):
        check(case, authenticator, current_code(authenticator), other_agent)


def test_the_totp_key_is_not_kept_in_authenticator_history():
    fields = {field.name for field in Authenticator.history.model._meta.get_fields()}
    assert "key" not in fields
    assert "last_t" in fields  # the history model is the real one, only the key is left out


def test_the_totp_key_never_reaches_the_audit_trail_or_any_history(case, authenticator, agent):
    check(case, authenticator, current_code(authenticator), agent)
    check(case, authenticator, wrong_code(authenticator), agent)
    rows = [
        *AuditEvent.objects.values(),
        *Authenticator.history.values(),
        *Evidence.history.values(),
        *RecoveryCase.history.values(),
    ]
    assert authenticator.key not in json.dumps(rows, cls=DjangoJSONEncoder)


# --- a service identity is recovered through its registered human owner --------------------


def test_a_service_identity_is_proved_by_its_owners_authenticator_not_its_own(clock, agent):
    owner = IdentityFactory()
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    case = claimed_case(agent=agent, subject=service)
    own_key = AuthenticatorFactory(identity=service)
    owners_phone = AuthenticatorFactory(identity=owner)

    with refused(case, code="bad_authenticator", error=VerificationError) as excinfo:
        check(case, own_key, current_code(own_key), agent)
    assert "of its owner" in str(excinfo.value)
    assert check(case, owners_phone, current_code(owners_phone), agent).outcome == "passed"


# --- what a code must look like, and what it must not lean on --------------------------------


@pytest.mark.parametrize("token", ["١٢٣٤٥٦", "12345²", "１２３４５６"])
def test_non_ascii_digits_are_refused_as_malformed(clock, agent, token):
    case = claimed_case(agent=agent)
    authenticator = AuthenticatorFactory(identity=case.subject)
    with nothing_changed(case), pytest.raises(VerificationError) as refused:
        check_totp(case=case, authenticator=authenticator, token=token, actor=agent)
    assert refused.value.code == "malformed_code"


def test_a_rebind_replacing_every_authenticator_accepts_no_totp_evidence(clock, agent):
    case = claimed_case(agent=agent, kind=Kind.MFA_REBIND, replaced_authenticator=None)
    assert case.replaced_authenticator_id is None
    check_code = read_code(case, agent)
    with refused(case, code="not_independent"):
        check_code()
