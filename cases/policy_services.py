from django.contrib.auth.models import User
from django.db import transaction

from audit.services import audit_record

from .errors import CaseError
from .models import PolicyRule
from .policy import policy_violations


def policy_rule_update(*, rule: PolicyRule, actor: User, changes: dict) -> PolicyRule:
    """Edit one policy row as a new version; refuse an edit that makes a riskier tier easier.

    Open cases keep the version they pinned; only cases opened afterwards see the change.
    """
    editable = {f.name for f in PolicyRule._meta.concrete_fields} - {
        "id",
        "kind",
        "risk_tier",
        "version",
        "updated_at",
    }
    unknown = set(changes) - editable
    if unknown:
        raise CaseError(f"These policy fields cannot be edited: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        locked = {r.pk: r for r in PolicyRule.objects.select_for_update().filter(kind=rule.kind)}
        current = locked[rule.pk]
        old = {name: getattr(current, name) for name in changes}
        for name, value in changes.items():
            setattr(current, name, value)
        problems = policy_violations(locked.values())
        if problems:
            raise CaseError(
                "Policy edit refused. " + " ".join(problems),
                code="policy_refused",
            )
        current.version += 1
        current.full_clean()
        # The history row names who made this version, in a request or not (policy pages).
        current._history_user = actor  # type: ignore[attr-defined]
        current.save()
        audit_record(
            actor=actor,
            action="policy.update",
            detail={
                "policy": str(current),
                "version": current.version,
                "old": {k: str(v) for k, v in old.items()},
                "new": {k: str(v) for k, v in changes.items()},
            },
        )
    return current
