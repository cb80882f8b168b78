"""Indexes for finding an identity by the start of its username, employee ID or name, in any
letter case (directory/selectors.py ``find_identities``).

Django writes ``istartswith`` / ``iexact`` as ``UPPER(col::text) LIKE UPPER(%s)`` on PostgreSQL
and as ``col LIKE %s`` (case-insensitive) on SQLite. An index serves them only when it is built
for that shape: on PostgreSQL an expression index on ``UPPER(col)`` with ``text_pattern_ops``
(so a prefix is a range scan whatever the database's collation), on SQLite an index with the
``NOCASE`` collation. Neither can be said in a model's ``Meta.indexes`` for both databases, so
they are plain SQL here and the models do not list them.

SQLite drops an index it does not know about when a later migration rebuilds the table;
``tests/desk/test_open_case.py`` checks the search's query plan, so such a loss fails a test.
"""

from django.db import migrations

COLUMNS = {
    "identity_username_search": "username",
    "identity_employee_id_search": "employee_id",
    "identity_display_name_search": "display_name",
}


def _create(name: str, column: str, vendor: str) -> str:
    if vendor == "postgresql":
        return (
            f"CREATE INDEX IF NOT EXISTS {name} ON directory_identity "
            f"(UPPER({column}::text) text_pattern_ops)"
        )
    return f"CREATE INDEX IF NOT EXISTS {name} ON directory_identity ({column} COLLATE NOCASE)"


def create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return  # another database: the search still works, unindexed
    for name, column in COLUMNS.items():
        schema_editor.execute(_create(name, column, vendor))


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor not in ("postgresql", "sqlite"):
        return
    for name in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
