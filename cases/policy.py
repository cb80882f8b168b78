"""The policy a case runs under, pinned at opening (DESIGN.md "Policy")."""

from dataclasses import asdict, dataclass, fields
from datetime import timedelta

from .errors import CaseError
from .models import PolicyRule

_DURATIONS = (
    "cooling_off",
    "pass_lifetime",
    "claim_deadline",
    "verify_deadline",
    "approval_deadline",
    "ready_deadline",
    "recovery_gap",
)


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
        values = dict(data)
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
