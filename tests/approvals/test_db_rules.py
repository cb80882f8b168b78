"""The separation-of-duties trigger survives migrations (approvals/db_rules.py)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from approvals import db_rules
from approvals.apps import _lift_sqlite_trigger, _restore_sqlite_trigger
from approvals.models import Approval
from cases.models import RecoveryCase
from directory.models import Identity
from tests.helpers import awaiting_approval_case

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _approval_by_the_verifier(case) -> None:
    now = timezone.now()
    with transaction.atomic():
        Approval.objects.create(
            case=case,
            approver_id=case.verified_by_id,
            decision=Approval.Decision.APPROVED,
            reason="Bypassing the service",
            decided_at=now,
            valid_until=now + timedelta(days=1),
            case_opened_by_id=case.opened_by_id,
            case_verified_by_id=case.opened_by_id,  # a forged copy: the constraints pass
        )


def test_after_migrate_the_database_still_refuses_a_forged_approval(agent, other_agent):
    call_command("migrate", verbosity=0)
    case = awaiting_approval_case(agent=agent, opener=other_agent)
    with pytest.raises(IntegrityError, match=db_rules.NAME):
        _approval_by_the_verifier(case)
    assert not Approval.objects.filter(case=case).exists()


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL alters tables in place, keeping triggers"
)
def test_on_sqlite_tables_the_trigger_reads_can_be_rebuilt_and_the_trigger_comes_back(
    agent, other_agent
):
    """What ``migrate`` does around an AlterField on SQLite: without lifting the trigger the
    rebuild of the case table fails, and the rebuild of the approval table drops it."""
    _lift_sqlite_trigger(sender=None, using=connection.alias)
    with connection.schema_editor() as editor:
        for model in (RecoveryCase, Identity, Approval):
            editor._remake_table(model)
    _restore_sqlite_trigger(sender=None, using=connection.alias)

    assert db_rules.sqlite_trigger_names(connection) == [
        f"{db_rules.NAME}_insert",
        f"{db_rules.NAME}_update",
    ]
    case = awaiting_approval_case(agent=agent, opener=other_agent)
    with pytest.raises(IntegrityError, match=db_rules.NAME):
        _approval_by_the_verifier(case)
