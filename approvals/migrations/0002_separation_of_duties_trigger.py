"""The separation-of-duties trigger (approvals/db_rules.py says what it refuses and why)."""

from django.db import migrations

from approvals import db_rules


def create(apps, schema_editor):
    # On SQLite a later migration that rebuilds a table the trigger reads would fail with the
    # trigger in place: there it is put in place after every migrate (approvals/apps.py).
    if schema_editor.connection.vendor != "sqlite":
        db_rules.run(schema_editor.connection, "create")


def drop(apps, schema_editor):
    db_rules.run(schema_editor.connection, "drop")


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
        ("cases", "0003_role_view_permissions"),
        ("directory", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
