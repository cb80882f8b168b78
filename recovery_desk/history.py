"""simple-history, with each history row copied by the database from the row just written.

django-simple-history builds the historical row in Python from the instance (a model instance,
a manager class and an ORM insert per save). Here the same row is written by one
``INSERT … SELECT`` from the live table, generated once per model from simple-history's own
field list, inside the transaction of the save. Two gains: the snapshot is what the database
holds (not what Python thought it wrote), and a transition costs a fraction of the CPU
(bench/README.md). The history models, manager, admin views and migrations are
simple-history's, unchanged. Deletions and many-to-many history, which this project does not
record through this path, fall back to simple-history's own code.
"""

from django.db import connections, router
from django.utils import timezone
from simple_history.models import HistoricalRecords as SimpleHistoricalRecords

_SNAPSHOT_SQL: dict[type, str] = {}


class HistoricalRecords(SimpleHistoricalRecords):
    def create_historical_record(self, instance, history_type, using=None):
        if history_type == "-" or self.m2m_fields:
            return super().create_historical_record(instance, history_type, using=using)
        model = type(instance)
        alias = using or router.db_for_write(model, instance=instance)
        history_user = self.get_history_user(instance)
        params = (
            getattr(instance, "_history_date", None) or timezone.now(),
            history_type,
            getattr(history_user, "pk", None),
            self.get_change_reason_for_object(instance, history_type, using),
            instance.pk,
        )
        with connections[alias].cursor() as cursor:
            cursor.execute(self._snapshot_sql(model), params)

    def _snapshot_sql(self, model) -> str:
        """``INSERT INTO <history> (<fields>, history_*) SELECT <fields>, %s… FROM <table>``,
        built on first use (the history model exists only once the app registry is ready).
        """
        if model not in _SNAPSHOT_SQL:
            _SNAPSHOT_SQL[model] = self._build_snapshot_sql(model)
        return _SNAPSHOT_SQL[model]

    def _build_snapshot_sql(self, model) -> str:
        history_model = getattr(model, model._meta.simple_history_manager_attribute).model
        fields = self.fields_included(model)
        connection = connections[router.db_for_write(model)]
        quote = connection.ops.quote_name
        targets = [history_model._meta.get_field(f.name).column for f in fields]
        extra = ("history_date", "history_type", "history_user", "history_change_reason")
        targets += [history_model._meta.get_field(name).column for name in extra]
        columns = ", ".join(quote(c) for c in targets)
        sources = ", ".join(quote(f.column) for f in fields)
        return (
            f"INSERT INTO {quote(history_model._meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT {sources}, %s, %s, %s, %s FROM {quote(model._meta.db_table)} "
            f"WHERE {quote(model._meta.pk.column)} = %s"
        )
