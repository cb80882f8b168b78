"""History rows are copied by the database from the row just written (recovery_desk.history)."""

from datetime import timedelta

import pytest
from django.forms.models import model_to_dict

from cases.models import PolicyRule
from directory.models import Identity, RiskTier
from tests.cases.factories import UserFactory
from tests.directory.factories import IdentityFactory

pytestmark = pytest.mark.django_db

HISTORY_FIELDS = {"history_id", "history_date", "history_type", "history_user_id"}
HISTORY_FIELDS |= {"history_change_reason"}


def _tracked(row: dict) -> dict:
    return {name: value for name, value in row.items() if name not in HISTORY_FIELDS}


def test_each_save_copies_every_tracked_column_of_the_stored_row():
    identity = IdentityFactory(risk_tier=RiskTier.CONTRACTOR, password_hash="secret-hash")
    identity.display_name = "Renamed"
    identity.save()

    rows = list(identity.history.order_by("history_id").values())
    stored = Identity.objects.values().get(pk=identity.pk)
    assert [row["history_type"] for row in rows] == ["+", "~"]
    expected = {name: value for name, value in stored.items() if name != "password_hash"}
    assert _tracked(rows[-1]) == expected
    assert "password_hash" not in rows[-1]  # excluded fields stay excluded


def test_the_snapshot_is_what_the_database_holds_not_the_instance():
    """A save limited to some fields leaves the others as stored; so does their history."""
    identity = IdentityFactory(display_name="Stored name")
    identity.display_name = "Only in memory"
    identity.risk_tier = RiskTier.PRIVILEGED
    identity.save(update_fields=["risk_tier"])

    latest = identity.history.latest("history_id")
    assert (latest.display_name, latest.risk_tier) == ("Stored name", RiskTier.PRIVILEGED)


def test_history_user_and_change_reason_are_recorded():
    editor = UserFactory(username="policy.editor")
    rule = PolicyRule.objects.get(kind="password_reset", risk_tier=RiskTier.STANDARD)
    rule._history_user = editor
    rule._change_reason = "Longer cooling-off after an incident"
    rule.cooling_off = timedelta(hours=2)
    rule.save()

    latest = rule.history.latest("history_id")
    assert latest.history_user == editor
    assert latest.history_change_reason == "Longer cooling-off after an incident"
    assert model_to_dict(latest.instance)["cooling_off"] == timedelta(hours=2)


def test_a_deletion_is_recorded_by_simple_history_itself():
    identity = IdentityFactory()
    pk = identity.pk
    identity.delete()

    kinds = Identity.history.filter(id=pk).order_by("history_id").values_list("history_type")
    assert list(kinds) == [("+",), ("-",)]
