"""Policy versions as they were: a case links to the version it is pinned to, and each rule's
history shows what changed between versions, who changed it and when (docs/design.md
"Policy").

A version is read from the rule's history (simple-history keeps one row per save; the last row
of a version is the version as it stood; cases migration 0008 recorded the versions shipped
without one). When no history row holds it, a case pinned to that version still holds a copy
(``policy_snapshot``), and the page says it is shown from there; the version in force is the
rule's row itself.
Anyone who may read the policy table or holds any queue role may read these pages.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import path

from cases.admin_forms import POLICY_FIELDS, POLICY_SECTIONS
from cases.models import PolicyRule, RecoveryCase
from cases.policy import FIELD_LABELS, PinnedPolicy, kind_label, tier_label, value_words

from .. import access
from .base import render_page

NOT_ALLOWED = (
    "Only staff who may read the policy table or hold a role on a queue can see policy versions."
)
SECTIONS = POLICY_SECTIONS  # the admin form's groups, in its order
FIELDS = POLICY_FIELDS


def _label(name: str) -> str:
    words = FIELD_LABELS.get(name, name.replace("_", " "))
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Version:
    number: int
    values: dict[str, Any]
    made_by: str  # who saved it ("" when nobody is recorded, e.g. a migration)
    made_at: datetime | None
    note: str  # simple-history's change reason, if any
    from_case: str = ""  # the case whose pinned copy shows it, when history holds none


@dataclass(frozen=True)
class Change:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    changed: bool


def _values(source) -> dict[str, Any]:
    values = {name: getattr(source, name, None) for name in FIELDS}
    methods = values.get("allowed_methods")
    if isinstance(methods, tuple):
        values["allowed_methods"] = list(methods)
    return values


def _versions_from_history(rule: PolicyRule) -> dict[int, Version]:
    """Every version history holds, by number: values from its last row, who and when from
    its first (the save that made it)."""
    rows = rule.history.select_related("history_user").order_by("history_id")
    first: dict[int, Any] = {}
    last: dict[int, Any] = {}
    for row in rows:
        first.setdefault(row.version, row)
        last[row.version] = row
    return {
        number: Version(
            number=number,
            values=_values(last[number]),
            made_by=first[number].history_user.get_username() if first[number].history_user else "",
            made_at=first[number].history_date,
            note=first[number].history_change_reason or "",
        )
        for number in sorted(last)
    }


def _version_from_a_case(rule: PolicyRule, number: int) -> Version | None:
    case = (
        RecoveryCase.objects.filter(policy_rule=rule, policy_version=number)
        .only("pk", "policy_snapshot")
        .order_by("pk")
        .first()
    )
    if case is None:
        return None
    return Version(
        number=number,
        values=_values(PinnedPolicy.from_snapshot(case.policy_snapshot)),
        made_by="",
        made_at=None,
        note="",
        from_case=case.reference,
    )


def changes_between(before: Version | None, after: Version) -> list[Change]:
    """Field by field, old → new, in words; empty for a first version."""
    if before is None:
        return []
    return [
        Change(_label(name), value_words(name, before.values[name]), value_words(name, value))
        for name, value in after.values.items()
        if value != before.values.get(name)
    ]


def _may_read(request) -> None:
    access.require(
        request.user.has_perm("cases.view_policyrule") or access.roles_of(request).any,
        NOT_ALLOWED,
    )


def _rule_title(rule: PolicyRule) -> str:
    return f"{kind_label(rule.kind)}, {tier_label(rule.risk_tier)} tier"


def policy_version(request, rule_id: int, version: int):
    _may_read(request)
    rule = get_object_or_404(PolicyRule, pk=rule_id)
    known = _versions_from_history(rule)
    shown = known.get(version) or _version_from_a_case(rule, version)
    if shown is None and version == rule.version:  # the version in force is the row itself
        shown = Version(version, _values(rule), "", rule.updated_at, "")
    if shown is None:
        raise Http404(f"{_rule_title(rule)} has no version {version}.")
    lower = [number for number in known if number < version]
    higher = [number for number in known if number > version]
    before = known.get(version - 1)
    if before is None and version > 1:
        before = _version_from_a_case(rule, version - 1) or (known[max(lower)] if lower else None)
    changes = changes_between(before, shown)
    changed = {change.label for change in changes}
    sections = [
        (
            heading,
            [
                Row(_label(name), value_words(name, shown.values[name]), _label(name) in changed)
                for name in names
            ],
        )
        for heading, names in SECTIONS
    ]
    context = {
        "rule": rule,
        "rule_title": _rule_title(rule),
        "shown": shown,
        "before": before,
        "changes": changes,
        "sections": sections,
        "is_current": version == rule.version,
        "previous_number": max(lower) if lower else None,
        "next_number": min(higher) if higher else None,
    }
    title = f"{_rule_title(rule)}: version {version}"
    return render_page(request, "desk/policy_version.html", context, title=title)


def policy_history(request, rule_id: int):
    _may_read(request)
    rule = get_object_or_404(PolicyRule, pk=rule_id)
    known = _versions_from_history(rule)
    entries = []
    previous = None
    for number in sorted(known):
        current = known[number]
        entries.append({"version": current, "changes": changes_between(previous, current)})
        previous = current
    entries.reverse()  # newest first
    context = {"rule": rule, "rule_title": _rule_title(rule), "entries": entries}
    title = f"{_rule_title(rule)}: policy history"
    return render_page(request, "desk/policy_history.html", context, title=title)


def urls(wrap) -> list:
    return [
        path("policy/<int:rule_id>/v<int:version>/", wrap(policy_version), name="policy_version"),
        path("policy/<int:rule_id>/history/", wrap(policy_history), name="policy_history"),
    ]
