from django.apps import AppConfig
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.signals import post_migrate, pre_migrate


def _lift_sqlite_trigger(sender, using, **kwargs) -> None:
    """SQLite cannot rebuild a table that the trigger reads, and loses it when rebuilding the
    table it is on: take it away while migrations run (approvals/db_rules.py)."""
    from . import db_rules

    connection = connections[using]
    if connection.vendor == "sqlite":
        db_rules.run(connection, "drop")


def _restore_sqlite_trigger(sender, using, **kwargs) -> None:
    from . import db_rules

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    if db_rules.MIGRATION in MigrationRecorder(connection).applied_migrations():
        db_rules.run(connection, "create")


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        pre_migrate.connect(_lift_sqlite_trigger, sender=self)
        post_migrate.connect(_restore_sqlite_trigger, sender=self)
