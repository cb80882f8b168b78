"""A standard reactivation needs one manager's approval (it needed none).

An account is usually disabled on purpose (a leaver, a suspended contractor); with no approval
one agent alone could switch it back on for whoever can still read its authenticator. The rule
moves to a new version with a history row and an audit event; cases opened earlier keep the
version they pinned. A rule an administrator has already edited is left alone.
"""

from django.db import migrations
from django.utils import timezone

KIND, TIER = "reactivation", "standard"
FIELDS = [
    "min_evidence_score", "min_independent_methods", "allowed_methods", "approvals_required",
    "approver_role", "cooling_off", "pass_lifetime", "device_binding_required",
    "claim_deadline", "verify_deadline", "approval_deadline", "ready_deadline", "recovery_gap",
]  # fmt: skip


def forwards(apps, schema_editor):
    PolicyRule = apps.get_model("cases", "PolicyRule")
    rule = PolicyRule.objects.filter(kind=KIND, risk_tier=TIER, version=1).first()
    if rule is None or rule.approvals_required != 0:
        return
    now = timezone.now()
    rule.approvals_required, rule.approver_role = 1, "manager"
    rule.version += 1
    rule.save()
    apps.get_model("cases", "HistoricalPolicyRule").objects.create(
        id=rule.pk,
        kind=KIND,
        risk_tier=TIER,
        version=rule.version,
        updated_at=rule.updated_at,
        history_date=now,
        history_type="~",
        history_change_reason="Migration 0005: a standard reactivation needs an approval",
        **{name: getattr(rule, name) for name in FIELDS},
    )
    apps.get_model("audit", "AuditEvent").objects.create(
        occurred_at=now,
        actor=None,
        actor_label="system",
        action="policy.update",
        detail={
            "policy": f"{KIND}/{TIER}",
            "version": rule.version,
            "old": {"approvals_required": "0"},
            "new": {"approvals_required": "1"},
            "by": "migration cases.0005",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_stage_timestamps"), ("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
