"""The policy a case runs under, pinned at opening (docs/design.md "Policy")."""

from dataclasses import asdict, dataclass, fields
from datetime import timedelta

from directory.models import TIER_ORDER, RiskTier

from .errors import CaseError
from .models import APPROVER_ROLE_ORDER, ApproverRole, PolicyRule
from .states import Kind

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
    "dispute_freeze",
)
# Fields a case pinned before they existed read as the values in force back then.
_SNAPSHOT_DEFAULTS = {
    "max_failures": 3,
    "failure_window": 24 * 3600,
    "code_max_tries": 3,
    "break_glass_review_window": 24 * 3600,
    "dispute_freeze": 7 * 24 * 3600,
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
    dispute_freeze: timedelta

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


# Fields a riskier tier must ask at least as much of, and fields it must allow at most as much
# of: a higher tier never gets an easier path.
_AT_LEAST = (
    "min_evidence_score",
    "min_independent_methods",
    "approvals_required",
    "cooling_off",
    "recovery_gap",
    "failure_window",
    "dispute_freeze",
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

# Every editable policy field in words, in the order the form and the policy pages show them.
FIELD_LABELS: dict[str, str] = {
    "min_evidence_score": "minimum evidence score",
    "min_independent_methods": "number of independent methods required",
    "allowed_methods": "allowed evidence methods",
    "approvals_required": "number of approvals required",
    "approver_role": "approver role",
    "cooling_off": "cooling-off period",
    "claim_deadline": "claim deadline",
    "verify_deadline": "verification deadline",
    "approval_deadline": "approval deadline",
    "ready_deadline": "execution deadline",
    "recovery_gap": "recovery gap",
    "max_failures": "limit of failed checks",
    "failure_window": "failure window",
    "code_max_tries": "limit of tries per one-time code",
    "pass_lifetime": "recovery pass lifetime",
    "device_binding_required": "device binding",
    "break_glass_review_window": "break-glass review window",
    "dispute_freeze": "freeze after a dispute",
}
DURATION_FIELDS = frozenset(_DURATIONS)

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_words(value: timedelta, *, parts: int | None = None) -> str:
    """A duration in words ("1 day 12 hours"; "90 minutes" reads "1 hour 30 minutes"): exact,
    or its largest ``parts`` units (the desk's countdowns and ages)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "none" if seconds == 0 else "-" + duration_words(-value, parts=parts)
    words = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            words.append(f"{count} {name}{'' if count == 1 else 's'}")
        if len(words) == parts:
            break
    return " ".join(words)


def kind_label(kind: str) -> str:
    return Kind(kind).label if kind in Kind.values else kind


def tier_label(tier: str) -> str:
    """The tier's short name: "Privileged", not "Privileged (admins, executives, finance)"."""
    return RiskTier(tier).label.split(" (")[0] if tier in RiskTier.values else tier


def method_label(code: str) -> str:
    from verification.methods import METHODS

    method = METHODS.get(code)
    return method.label if method is not None else code


def value_words(name: str, value) -> str:
    """One policy value as a person reads it: durations in words, methods by their labels."""
    if name in DURATION_FIELDS:
        if not isinstance(value, timedelta):
            value = timedelta(seconds=int(value))
        return duration_words(value)
    if name == "allowed_methods":
        if not isinstance(value, list | tuple):
            return str(value)
        return ", ".join(method_label(str(code)) for code in value) if value else "none"
    if name == "approver_role":
        return ApproverRole(value).label if value in ApproverRole.values else str(value)
    if isinstance(value, bool):
        return "required" if value else "not required"
    return str(value)


def _easier_than(lower, higher) -> list[str]:
    """The ways ``higher`` (a riskier tier) asks less than ``lower``, in words; empty when it
    does not."""

    def against(name: str) -> str:
        return (
            f"({value_words(name, getattr(higher, name))} against "
            f"{value_words(name, getattr(lower, name))})"
        )

    found = []
    for name in (*_AT_LEAST, *_AT_MOST):
        mine, theirs = getattr(higher, name), getattr(lower, name)
        duration = isinstance(mine, timedelta)
        if name in _AT_LEAST and mine < theirs:
            comparison = "shorter" if duration else "lower"
        elif name in _AT_MOST and mine > theirs:
            comparison = "longer" if duration else "higher"
        else:
            continue
        found.append(f"its {FIELD_LABELS[name]} is {comparison} {against(name)}")
    extra = [code for code in higher.allowed_methods if code not in set(lower.allowed_methods)]
    if extra:
        methods = ", ".join(method_label(code) for code in extra)
        found.append(
            f"it accepts evidence the {tier_label(lower.risk_tier)} tier does not ({methods})"
        )
    if APPROVER_ROLE_ORDER.index(higher.approver_role) < APPROVER_ROLE_ORDER.index(
        lower.approver_role
    ):
        found.append(f"its approver role is more junior {against('approver_role')}")
    if lower.device_binding_required and not higher.device_binding_required:
        found.append(f"it drops the device binding the {tier_label(lower.risk_tier)} tier requires")
    return found


def _well_formed(rule) -> bool:
    methods = rule.allowed_methods
    return isinstance(methods, list) and all(isinstance(method, str) for method in methods)


def _rule_words(rule) -> str:
    return f"{kind_label(rule.kind)}, {tier_label(rule.risk_tier)} tier"


def _method_problems(rule) -> list[str]:
    """Only methods the system can check; knowledge questions never (they score zero)."""
    from verification.methods import METHODS, REFUSED_METHODS

    if not _well_formed(rule):
        return [
            f"{_rule_words(rule)}: allowed methods must be a list of method names, "
            'such as ["totp"].'
        ]
    return [
        f"{_rule_words(rule)}: '{method}' is not an evidence method the system checks."
        for method in rule.allowed_methods
        if method not in METHODS or method in REFUSED_METHODS
    ]


def policy_violations(rules) -> list[str]:
    """Every place where, for one kind, a riskier tier has an easier path than a lower one,
    and every method a rule allows that the system cannot check: one sentence each, naming
    the kind, the tiers and the fields in words ("Password reset: the Privileged tier would
    be easier than the Standard tier: its cooling-off period is shorter (1 hour against
    4 hours)."). In kind order, then tier order, then field order.
    """
    by_key = {(rule.kind, rule.risk_tier): rule for rule in rules}
    kinds = sorted({kind for kind, _ in by_key}, key=_kind_rank)
    problems = [
        problem
        for kind in kinds
        for tier in TIER_ORDER
        if (kind, tier) in by_key
        for problem in _method_problems(by_key[(kind, tier)])
    ]
    if not all(_well_formed(rule) for rule in by_key.values()):
        return problems  # the tiers can be compared once every rule is readable
    for kind in kinds:
        present = [by_key[(kind, tier)] for tier in TIER_ORDER if (kind, tier) in by_key]
        for lower, higher in zip(present, present[1:], strict=False):
            problems += [
                f"{kind_label(kind)}: the {tier_label(higher.risk_tier)} tier would be easier "
                f"than the {tier_label(lower.risk_tier)} tier: {why}."
                for why in _easier_than(lower, higher)
            ]
    return problems


def _kind_rank(kind: str) -> tuple[int, str]:
    return (Kind.values.index(kind) if kind in Kind.values else len(Kind.values), kind)
