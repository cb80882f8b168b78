"""Two things for the staff workbench (issue #13).

**Every policy version in the history.** The rules shipped by migration 0002 wrote no history
row, so the first version of most rules was recorded nowhere but in the cases pinned to it, and
the desk's policy pages (desk/views/policy.py) could not show it or what the first edit changed.
Each rule with no history row gets one now: its current values, which are its only version
(every edit through ``policy_rule_update`` writes a row). The one rule migration 0005 moved to
version 2 gets its version 1 back: version 2 with the value 0005 changed (approvals_required
0, as that migration's audit event says), ahead of 0005's row in the history's order.

**An index for finding a case by the start of its external ticket id**, in any letter case
(the staff lists' bounded search, recovery_desk/admin_tools.py ``Prefix``). Django writes
``istartswith`` as ``UPPER(col::text) LIKE UPPER(%s)`` on PostgreSQL and as
``col LIKE %s ESCAPE '\\'`` (case-insensitive) on SQLite. An index serves it only when built for
that shape: on PostgreSQL an expression index on ``UPPER(col)`` with ``text_pattern_ops`` (a
prefix is then a range scan whatever the database's collation), on SQLite an index with the
``NOCASE`` collation. Neither can be said in ``Meta.indexes`` for both databases, so it is
plain SQL here (as in directory migration 0002) and the model does not list it. On PostgreSQL
it is built ``CONCURRENTLY`` (cases keep being written while a million-row table is indexed),
so this migration is not atomic (its data step is), and the statement timeout of web requests
(``STATEMENT_TIMEOUT_MS``) is lifted for the build. SQLite drops an index it does not know
about when a later migration rebuilds the table; ``tests/test_admin_search.py`` checks the
search's query plan, so such a loss fails a test.
"""

from django.db import migrations

TICKET_INDEX = "case_ticket_search"
RECORDED = "Recorded by migration 0008: the version as shipped"
MIGRATION_0005 = "Migration 0005: a standard reactivation needs an approval"


def _values(row, fields) -> dict:
    return {name: getattr(row, name) for name in fields}


def record_policy_versions(apps, schema_editor) -> None:
    PolicyRule = apps.get_model("cases", "PolicyRule")
    History = apps.get_model("cases", "HistoricalPolicyRule")
    fields = [f.name for f in PolicyRule._meta.concrete_fields if f.name != "id"]
    for rule in PolicyRule.objects.order_by("pk"):
        rows = History.objects.filter(id=rule.pk)
        if not rows.exists():
            History.objects.create(
                id=rule.pk,
                history_date=rule.updated_at,
                history_type="+",
                history_change_reason=RECORDED,
                **_values(rule, fields),
            )
            continue
        first = rows.order_by("version", "history_id").first()
        if first.version == 2 and first.history_change_reason == MIGRATION_0005:
            # Version 1 goes before version 2 in the history's order (by id): version 2's row
            # is written again, unchanged, after it.
            second = {
                name: getattr(first, name)
                for name in ("history_date", "history_type", "history_change_reason")
            }
            second_values = _values(first, fields)
            first.delete()
            History.objects.create(
                id=rule.pk,
                history_date=second["history_date"],
                history_type="+",
                history_change_reason=RECORDED,
                **{**second_values, "version": 1, "approvals_required": 0},
            )
            History.objects.create(id=rule.pk, **second, **second_values)


def forget_recorded_versions(apps, schema_editor) -> None:
    apps.get_model("cases", "HistoricalPolicyRule").objects.filter(
        history_change_reason=RECORDED
    ).delete()


def create_ticket_index(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("SET statement_timeout = 0")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TICKET_INDEX} ON cases_recoverycase "
            "(UPPER(external_ticket::text) text_pattern_ops)"
        )
        schema_editor.execute("RESET statement_timeout")
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {TICKET_INDEX} ON cases_recoverycase "
            "(external_ticket COLLATE NOCASE)"
        )
    # Another database: the search still works, unindexed.


def drop_ticket_index(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TICKET_INDEX}")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TICKET_INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("cases", "0007_desk_service_targets_break_glass_reviews")]

    operations = [
        migrations.RunPython(record_policy_versions, forget_recorded_versions, atomic=True),
        migrations.RunPython(create_ticket_index, drop_ticket_index, elidable=False),
    ]
