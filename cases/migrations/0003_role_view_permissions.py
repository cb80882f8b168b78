"""Every staff role may look at cases, the directory, evidence, approvals and the audit trail.

What they may *do* is decided by the services (group + per-queue object permission), never by
model change permissions: the admin writes nothing itself.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_GROUPS = ["Service desk agents", "Managers", "Security reviewers"]
VIEW_APPS = ["cases", "directory", "verification", "approvals", "audit"]


def forwards(apps, schema_editor):
    # Permissions are normally created after migrate; create them now to assign them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    views = Permission.objects.filter(
        content_type__app_label__in=VIEW_APPS, codename__startswith="view_"
    )
    for group in Group.objects.filter(name__in=ROLE_GROUPS):
        group.permissions.add(*views)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_queues_policies_roles"),
        ("directory", "0001_initial"),
        ("verification", "0001_initial"),
        ("approvals", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
