"""The policy a case runs under, pinned at opening (docs/design.md "Policy")."""

from dataclasses import asdict, dataclass, fields
from datetime import timedelta

from directory.models import TIER_ORDER

from .errors import CaseError
from .models import APPROVER_ROLE_ORDER, PolicyRule

_DURATIONS = (
    "cooling_off",
    "pass_lifetime",
    "claim_deadline",
    "verify_deadline",
    "approval_deadline",
    "ready_deadline",
    "recovery_gap",
    "failure_window",
    "break_glass_review_window",
)
# Fields a case pinned before they existed read as the values in force back then.
_SNAPSHOT_DEFAULTS = {
    "max_failures": 3,
    "failure_window": 24 * 3600,
    "code_max_tries": 3,
    "break_glass_review_window": 24 * 3600,
}


@dataclass(frozen=True)
class PinnedPolicy:
    """An immutable copy of a PolicyRule version; later edits never change an open case."""

    rule_id: int
    version: int
    kind: str
    risk_tier: str
    min_evidence_score: int
    min_independent_methods: int
    allowed_methods: tuple[str, ...]
    approvals_required: int
    approver_role: str
    cooling_off: timedelta
    pass_lifetime: timedelta
    device_binding_required: bool
    claim_deadline: timedelta
    verify_deadline: timedelta
    approval_deadline: timedelta
    ready_deadline: timedelta
    recovery_gap: timedelta
    max_failures: int
    failure_window: timedelta
    code_max_tries: int
    break_glass_review_window: timedelta

    @classmethod
    def from_rule(cls, rule: PolicyRule) -> "PinnedPolicy":
        values = {f.name: getattr(rule, f.name) for f in fields(cls) if f.name != "rule_id"}
        values["allowed_methods"] = tuple(rule.allowed_methods)
        return cls(rule_id=rule.pk, **values)

    def to_snapshot(self) -> dict:
        data = asdict(self)
        for name in _DURATIONS:
            data[name] = int(data[name].total_seconds())
        data["allowed_methods"] = list(self.allowed_methods)
        return data

    @classmethod
    def from_snapshot(cls, data: dict) -> "PinnedPolicy":
        values = {**_SNAPSHOT_DEFAULTS, **data}
        for name in _DURATIONS:
            values[name] = timedelta(seconds=values[name])
        values["allowed_methods"] = tuple(values["allowed_methods"])
        return cls(**values)


def policy_for(*, kind: str, risk_tier: str) -> PinnedPolicy:
    try:
        rule = PolicyRule.objects.get(kind=kind, risk_tier=risk_tier)
    except PolicyRule.DoesNotExist:
        raise CaseError(
            f"No policy covers a {kind} for a {risk_tier} identity; an administrator must add one.",
            code="no_policy",
        ) from None
    return PinnedPolicy.from_rule(rule)


def pinned_policy(case) -> PinnedPolicy:
    return PinnedPolicy.from_snapshot(case.policy_snapshot)


# (field, "higher tier must be >=" or "<="); a higher tier never gets an easier path.
_AT_LEAST = (
    "min_evidence_score",
    "min_independent_methods",
    "approvals_required",
    "cooling_off",
    "recovery_gap",
    "failure_window",
)
_AT_MOST = (
    "pass_lifetime",
    "claim_deadline",
    "verify_deadline",
    "approval_deadline",
    "ready_deadline",
    "max_failures",
    "code_max_tries",
    "break_glass_review_window",
)


def _easier_than(lower, higher) -> list[str]:
    """The ways ``higher`` (a riskier tier) asks less than ``lower``; empty when it does not."""
    found = [
        f"{name} is lower" for name in _AT_LEAST if getattr(higher, name) < getattr(lower, name)
    ]
    found += [
        f"{name} is {'longer' if isinstance(getattr(higher, name), timedelta) else 'higher'}"
        for name in _AT_MOST
        if getattr(higher, name) > getattr(lower, name)
    ]
    if not set(higher.allowed_methods) <= set(lower.allowed_methods):
        found.append("it allows methods the lower tier does not")
    if APPROVER_ROLE_ORDER.index(higher.approver_role) < APPROVER_ROLE_ORDER.index(
        lower.approver_role
    ):
        found.append("its approver role is junior")
    if lower.device_binding_required and not higher.device_binding_required:
        found.append("it drops device binding")
    return found


def _well_formed(rule) -> bool:
    methods = rule.allowed_methods
    return isinstance(methods, list) and all(isinstance(method, str) for method in methods)


def _method_problems(rule) -> list[str]:
    """Only methods the system can check; knowledge questions never (they score zero)."""
    from verification.methods import METHODS, REFUSED_METHODS

    if not _well_formed(rule):
        return [
            f"{rule.kind}/{rule.risk_tier}: allowed methods must be a list of method names, "
            'such as ["totp"]'
        ]
    return [
        f"{rule.kind}/{rule.risk_tier}: '{method}' is not an evidence method the system checks"
        for method in rule.allowed_methods
        if method not in METHODS or method in REFUSED_METHODS
    ]


def policy_violations(rules) -> list[str]:
    """Every place where, for one kind, a riskier tier has an easier path than a lower one,
    and every method a rule allows that the system cannot check.
    """
    by_key = {(rule.kind, rule.risk_tier): rule for rule in rules}
    problems = [problem for rule in by_key.values() for problem in _method_problems(rule)]
    if not all(_well_formed(rule) for rule in by_key.values()):
        return sorted(problems)  # the tiers can be compared once every rule is readable
    for kind in {kind for kind, _ in by_key}:
        present = [by_key[(kind, tier)] for tier in TIER_ORDER if (kind, tier) in by_key]
        for lower, higher in zip(present, present[1:], strict=False):
            problems += [
                f"{kind}: {higher.risk_tier} is easier than {lower.risk_tier}: {why}"
                for why in _easier_than(lower, higher)
            ]
    return sorted(problems)
