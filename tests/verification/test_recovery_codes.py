"""Saved recovery codes: issued once in clear, kept hashed, each good once, allowed only where
the policy lists them, and a factor of their own (docs/design.md "Evidence")."""

import pytest

from audit.models import AuditEvent
from cases.models import PolicyRule
from cases.states import Kind, State
from directory.models import RiskTier
from tests.directory.factories import IdentityFactory
from tests.helpers import claimed_case, pass_totp, refused
from verification.errors import VerificationError
from verification.methods.recovery_codes import ALPHABET, CODE_LENGTH
from verification.models import Evidence, RecoveryCode
from verification.selectors import evidence_summary
from verification.services import evidence_check, recovery_codes_issue

ALL = ["totp", "recovery_codes", "in_person", "callback"]


def allow(methods=ALL, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD) -> None:
    """The live rule accepts ``methods`` (cases opened afterwards pin it)."""
    PolicyRule.objects.filter(kind=kind, risk_tier=tier).update(allowed_methods=list(methods))


def check(case, code, agent) -> Evidence:
    return evidence_check(case=case, method="recovery_codes", answer={"code": code}, actor=agent)


@pytest.fixture
def case(clock, agent):
    allow()
    return claimed_case(agent=agent)


@pytest.fixture
def codes(case):
    return recovery_codes_issue(identity=case.subject)


def test_codes_are_issued_in_clear_once_and_kept_only_hashed(db):
    person = IdentityFactory()
    codes = recovery_codes_issue(identity=person)
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        raw = code.replace("-", "")
        assert len(raw) == CODE_LENGTH and set(raw) <= set(ALPHABET)
    stored = list(RecoveryCode.objects.filter(identity=person).values_list("code_hash", flat=True))
    assert len(stored) == 10
    for code_hash in stored:
        assert code_hash.startswith("pbkdf2_sha256$100000$")
        for code in codes:
            assert code.replace("-", "") not in code_hash and code not in code_hash
    event = AuditEvent.objects.get(action="recovery_codes.issue", identity=person)
    assert event.detail == {"count": 10}


def test_issuing_again_replaces_the_unused_codes(case, codes, agent):
    check(case, codes[0], agent)
    fresh = recovery_codes_issue(identity=case.subject, count=5)
    left = RecoveryCode.objects.filter(identity=case.subject)
    assert left.filter(used_at__isnull=True).count() == 5
    assert left.filter(used_at__isnull=False).count() == 1  # the record of the case it proved
    assert check(case, codes[1], agent).outcome == Evidence.Outcome.FAILED
    assert check(case, fresh[0], agent).outcome == Evidence.Outcome.PASSED


def test_a_saved_code_passes_scores_and_is_spent(case, codes, agent):
    evidence = check(case, codes[3].lower().replace("-", " "), agent)
    assert (evidence.outcome, evidence.score, evidence.factor) == ("passed", 2, "recovery_code")
    assert (evidence.authenticator, evidence.detail) == (None, {})
    spent = RecoveryCode.objects.get(used_at__isnull=False)
    assert spent.used_on_case_id == case.pk
    assert RecoveryCode.objects.filter(used_at__isnull=True).count() == 9
    assert evidence_summary(case=case).score == 2


def test_a_code_works_once(case, codes, agent):
    check(case, codes[0], agent)
    again = check(case, codes[0], agent)
    case.refresh_from_db()
    assert (again.outcome, again.score, case.failed_checks) == ("failed", 0, 1)


def test_a_wrong_code_fails_and_counts(case, codes, agent):
    wrong = next(c for c in ("2222-2222-2222", "3333-3333-3333") if c not in codes)
    evidence = check(case, wrong, agent)
    case.refresh_from_db()
    assert (evidence.outcome, case.failed_checks) == ("failed", 1)
    assert RecoveryCode.objects.filter(used_at__isnull=True).count() == 10


def test_three_wrong_codes_escalate_like_any_method(case, codes, agent):
    for _ in range(3):
        check(case, "2222-2222-2222", agent)
    case.refresh_from_db()
    assert case.state == State.ESCALATED


@pytest.mark.parametrize("code", ["", "1234", "OOOO-IIII-1111", "ABCD-EFGH-JKMN-P"])
def test_a_malformed_code_is_refused_and_writes_nothing(case, codes, agent, code):
    with refused(case, "malformed_code", VerificationError):
        check(case, code, agent)


def test_someone_without_codes_is_refused(case, agent):
    with refused(case, "no_recovery_codes", VerificationError):
        check(case, "2222-2222-2222", agent)


def test_only_where_the_policy_allows_it(clock, agent):
    allow(["totp"])  # a policy that accepts TOTP only
    case = claimed_case(agent=agent)
    codes = recovery_codes_issue(identity=case.subject)
    with refused(case, "method_not_allowed", VerificationError):
        check(case, codes[0], agent)


def test_another_persons_code_does_not_prove_this_one(case, agent):
    recovery_codes_issue(identity=case.subject)
    theirs = recovery_codes_issue(identity=IdentityFactory())
    assert check(case, theirs[0], agent).outcome == Evidence.Outcome.FAILED


def test_a_code_is_independent_of_the_authenticator(case, codes, agent):
    pass_totp(case, agent)
    check(case, codes[0], agent)
    summary = evidence_summary(case=case)
    assert (summary.score, summary.factors) == (4, {"enrolled_authenticator", "recovery_code"})


def test_a_rebind_replacing_every_authenticator_may_be_proved_with_a_code(clock, agent):
    allow(kind=Kind.MFA_REBIND)
    case = claimed_case(agent=agent, kind=Kind.MFA_REBIND, replaced_authenticator=None)
    codes = recovery_codes_issue(identity=case.subject)
    assert check(case, codes[0], agent).outcome == Evidence.Outcome.PASSED


def test_a_service_identity_is_proved_with_its_owners_codes(clock, agent):
    allow(tier=RiskTier.SERVICE)
    case = claimed_case(agent=agent, tier=RiskTier.SERVICE)
    own = recovery_codes_issue(identity=case.subject)
    owners = recovery_codes_issue(identity=case.subject.owner)
    assert check(case, own[0], agent).outcome == Evidence.Outcome.FAILED
    evidence = check(case, owners[0], agent)
    assert (evidence.outcome, evidence.answered_by_id) == ("passed", case.subject.owner_id)
