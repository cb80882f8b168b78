"""Ship the three queues, the staff role groups and the policy table (docs/design.md "Policy").

Values are frozen here on purpose: this is the policy as first shipped. Admins edit rows
afterwards (history keeps every version). A test proves higher tiers are never easier.
"""

from datetime import timedelta

from django.db import migrations

H = timedelta(hours=1)
D = timedelta(days=1)
M10 = timedelta(minutes=10)

QUEUES = {
    "password_reset": "Password reset",
    "mfa_rebind": "MFA re-bind",
    "reactivation": "Account reactivation",
}
GROUPS = ["Service desk agents", "Managers", "Security reviewers"]

# (approvals, approver role, cooling-off, device binding, recovery gap, verify / ready deadline)
TABLE = {
    "password_reset": {
        "standard": (0, "manager", 0 * H, False, 0 * D, 4 * H, 4 * H),
        "contractor": (1, "manager", 1 * H, False, 1 * D, 2 * H, 4 * H),
        "privileged": (2, "manager", 4 * H, True, 7 * D, 1 * H, 2 * H),
        "service": (2, "security_reviewer", 4 * H, True, 7 * D, 1 * H, 2 * H),
    },
    "mfa_rebind": {
        "standard": (1, "manager", 1 * H, False, 1 * D, 4 * H, 4 * H),
        "contractor": (1, "manager", 4 * H, False, 7 * D, 2 * H, 4 * H),
        "privileged": (2, "manager", 24 * H, True, 30 * D, 1 * H, 2 * H),
        "service": (2, "security_reviewer", 24 * H, True, 30 * D, 1 * H, 2 * H),
    },
    "reactivation": {
        "standard": (0, "manager", 0 * H, False, 0 * D, 4 * H, 4 * H),
        "contractor": (1, "manager", 1 * H, False, 0 * D, 2 * H, 4 * H),
        "privileged": (2, "manager", 4 * H, True, 7 * D, 1 * H, 2 * H),
        "service": (2, "security_reviewer", 4 * H, True, 7 * D, 1 * H, 2 * H),
    },
}


def forwards(apps, schema_editor):
    Queue = apps.get_model("cases", "Queue")
    PolicyRule = apps.get_model("cases", "PolicyRule")
    Group = apps.get_model("auth", "Group")
    for kind, name in QUEUES.items():
        Queue.objects.get_or_create(kind=kind, defaults={"name": name})
    for name in GROUPS:
        Group.objects.get_or_create(name=name)
    for kind, tiers in TABLE.items():
        for tier, (approvals, role, cooling, device, gap, verify, ready) in tiers.items():
            PolicyRule.objects.get_or_create(
                kind=kind,
                risk_tier=tier,
                defaults={
                    "min_evidence_score": 2,
                    "min_independent_methods": 1,
                    "allowed_methods": ["totp"],
                    "approvals_required": approvals,
                    "approver_role": role,
                    "cooling_off": cooling,
                    "pass_lifetime": M10,
                    "device_binding_required": device,
                    "claim_deadline": D,
                    "verify_deadline": verify,
                    "approval_deadline": D,
                    "ready_deadline": ready,
                    "recovery_gap": gap,
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
