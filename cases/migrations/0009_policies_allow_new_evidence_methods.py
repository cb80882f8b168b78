"""The shipped policies accept the evidence methods of issue #14 where they fit (docs/design.md
"Evidence").

Before: every rule allowed a TOTP code only. After, for every kind:

- standard and contractor: TOTP, a saved recovery code, an in-person document check, a call
  back to a phone number of record;
- privileged: TOTP, a saved recovery code, an in-person document check (no callback: a phone
  number is too easy to move for an administrator's account);
- service: TOTP and an in-person check by the owner.

A riskier tier's methods are a subset of the tier below's, so monotonicity holds. Scores mean
what they meant: ``min_evidence_score`` 2 is one possession-strength check (TOTP, a recovery
code, an in-person check each score 2); a callback scores 1, so it never suffices alone, and
two callbacks are one factor (``phone_of_record``), counted once.

Each changed rule moves to a new version with a history row and a ``policy.update`` event; open
cases keep the version they pinned. A kind where any rule no longer allows exactly ``["totp"]``
(an administrator edited it) is left alone, so an edit is never overwritten and the tiers stay
comparable.
"""

from django.db import migrations
from django.utils import timezone

NEW = {
    "standard": ["totp", "recovery_codes", "in_person", "callback"],
    "contractor": ["totp", "recovery_codes", "in_person", "callback"],
    "privileged": ["totp", "recovery_codes", "in_person"],
    "service": ["totp", "in_person"],
}
SHIPPED = ["totp"]
REASON = "Migration cases.0009: the new evidence methods (issue #14)"


def forwards(apps, schema_editor) -> None:
    PolicyRule = apps.get_model("cases", "PolicyRule")
    History = apps.get_model("cases", "HistoricalPolicyRule")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    fields = [f.name for f in PolicyRule._meta.concrete_fields if f.name != "id"]
    now = timezone.now()
    kinds = sorted(set(PolicyRule.objects.values_list("kind", flat=True)))
    for kind in kinds:
        rules = list(PolicyRule.objects.select_for_update().filter(kind=kind).order_by("pk"))
        if any(rule.allowed_methods != SHIPPED or rule.risk_tier not in NEW for rule in rules):
            continue
        for rule in rules:
            rule.allowed_methods = NEW[rule.risk_tier]
            rule.version += 1
            rule.save()
            History.objects.create(
                id=rule.pk,
                history_date=now,
                history_type="~",
                history_change_reason=REASON,
                **{name: getattr(rule, name) for name in fields},
            )
            AuditEvent.objects.create(
                occurred_at=now,
                actor=None,
                actor_kind="system",
                actor_label="system",
                action="policy.update",
                detail={
                    "policy": f"{kind}/{rule.risk_tier}",
                    "version": rule.version,
                    "old": {"allowed_methods": str(SHIPPED)},
                    "new": {"allowed_methods": str(rule.allowed_methods)},
                    "by": "migration cases.0009",
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0008_policy_versions_ticket_search"),
        ("audit", "0005_evidence_refused_recovery_codes_issue"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
