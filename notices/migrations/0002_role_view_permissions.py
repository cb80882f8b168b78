"""Every staff role may read notifications (what was sent where, never a code). The outbox,
which holds what the embedded backends "sent", codes included, stays administrators' only."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_GROUPS = ["Service desk agents", "Managers", "Security reviewers"]


def forwards(apps, schema_editor):
    # Permissions are normally created after migrate; create them now to assign them.
    app_config = apps.get_app_config("notices")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(
        content_type__app_label="notices", codename="view_notification"
    )
    for group in Group.objects.filter(name__in=ROLE_GROUPS):
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0001_initial"),
        ("cases", "0003_role_view_permissions"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
