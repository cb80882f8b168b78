"""Closing verification: the evidence must meet the policy pinned at opening (its score, its
number of independent methods, the methods it allows), and a later edit of the policy does not
change an open case (docs/design.md "Policy", "Evidence")."""

from cases.models import PolicyRule
from cases.services import case_verify
from cases.states import Kind, State
from directory.models import RiskTier
from tests.helpers import claimed_case, fail_totp, pass_totp, read_code, refused


def test_verification_refuses_evidence_below_the_policy_naming_the_score(clock, agent):
    case = claimed_case(agent=agent)
    fail_totp(case, agent)
    with refused(case, code="insufficient_evidence") as excinfo:
        case_verify(case=case, actor=agent)
    assert "scores 0 of the 2" in str(excinfo.value)


def _edit_rule(kind: str, tier: str, **values) -> None:
    """Edit the policy row before a case is opened (a case pins the policy at opening)."""
    assert PolicyRule.objects.filter(kind=kind, risk_tier=tier).update(**values) == 1


def test_verification_refuses_a_score_below_the_policy_even_with_enough_methods(clock, agent):
    _edit_rule(Kind.PASSWORD_RESET, RiskTier.STANDARD, min_evidence_score=3)
    case = claimed_case(agent=agent)
    pass_totp(case, agent)  # one method, score 2
    with refused(case, code="insufficient_evidence") as excinfo:
        case_verify(case=case, actor=agent)
    assert "scores 2 of the 3" in str(excinfo.value)


def test_two_totp_authenticators_count_as_one_independent_method(clock, agent):
    _edit_rule(
        Kind.PASSWORD_RESET, RiskTier.STANDARD, min_evidence_score=2, min_independent_methods=2
    )
    case = claimed_case(agent=agent)
    pass_totp(case, agent)
    pass_totp(case, agent)  # a second authenticator: the same factor, the score stays met
    with refused(case, code="insufficient_evidence") as excinfo:
        case_verify(case=case, actor=agent)
    assert "scores 2 of the 2" in str(excinfo.value)
    assert "from 1 of 2 independent methods" in str(excinfo.value)


def test_totp_evidence_is_refused_when_the_pinned_policy_does_not_allow_it(clock, agent):
    _edit_rule(Kind.PASSWORD_RESET, RiskTier.STANDARD, allowed_methods=[])
    case = claimed_case(agent=agent)
    assert case.policy_snapshot["allowed_methods"] == []
    check_code = read_code(case, agent)
    with refused(case, code="method_not_allowed"):
        check_code()


def test_editing_the_policy_does_not_change_an_open_case(clock, agent):
    case = claimed_case(agent=agent)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier=RiskTier.STANDARD)
    rule.min_evidence_score = 6
    rule.approvals_required = 2
    rule.version += 1
    rule.save()
    pass_totp(case, agent)
    case = case_verify(case=case, actor=agent)
    # Under the edited rule a score of 2 would be refused and approvals would be needed.
    assert (case.state, case.policy_version) == (State.READY, 2)  # version 2: migration 0009
