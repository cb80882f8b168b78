"""Indexes for the trail browser's newest-first scans (audit/selectors.py ``trail_events``).

The trail reads "the newest 51 events of X between two days", newest first by
``(occurred_at, id)``: with ``(X, occurred_at, id)`` the database walks one index range
backwards and stops after 51 rows, whatever the size of the table and however old the days.
``(occurred_at, id)`` serves a date range alone (and the dashboard's windows); a case's events
are few, so ``(case, id)`` (``audit_case_idx``) serves the case filter.

Database only: the model state is left as it is, so ``audit/models.py`` (another owner's file)
and ``makemigrations --check`` stay in step. To move them into the model later, add the same
``models.Index`` entries to ``AuditEvent.Meta.indexes`` with a migration whose
``SeparateDatabaseAndState`` carries only ``state_operations``.

The audit table is append-only (issue 15 adds triggers refusing UPDATE and DELETE): creating an
index rewrites no row and fires no trigger. On PostgreSQL the index is built CONCURRENTLY, so
appending to a large trail never waits behind the build (hence ``atomic = False``); a build that
fails leaves an INVALID index to drop before running the migration again.
"""

from django.db import migrations, models
from django.db.migrations.operations.base import Operation

INDEXES = (
    models.Index(fields=["occurred_at", "id"], name="audit_time_idx"),
    models.Index(fields=["identity", "occurred_at", "id"], name="audit_identity_idx"),
    models.Index(fields=["actor", "occurred_at", "id"], name="audit_actor_idx"),
    models.Index(fields=["action", "occurred_at", "id"], name="audit_action_idx"),
)


class AddIndexToDatabase(Operation):
    """Create ``index`` in the database only (CONCURRENTLY on PostgreSQL)."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str, index: models.Index) -> None:
        self.model_name = model_name
        self.index = index

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [],
            {"model_name": self.model_name, "index": self.index},
        )

    def state_forwards(self, app_label, state) -> None:
        pass

    def _model(self, app_label, schema_editor, state):
        model = state.apps.get_model(app_label, self.model_name)
        return model if self.allow_migrate_model(schema_editor.connection.alias, model) else None

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = self._model(app_label, schema_editor, to_state)
        if model is None:
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = self._model(app_label, schema_editor, from_state)
        if model is None:
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} (database only)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_{self.index.name.lower()}"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0003_review_actions"),
    ]

    operations = [AddIndexToDatabase("auditevent", index) for index in INDEXES]
