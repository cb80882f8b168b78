"""One event path: every event is written by ``audit_record``, with an action from one
enumeration, an actor kind, and a canonical JSON detail."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from audit.actions import Action
from audit.models import AuditEvent
from audit.services import audit_record
from recovery_desk.actors import SUBJECT

pytestmark = pytest.mark.django_db


def test_an_action_outside_the_enumeration_is_refused(agent):
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError), transaction.atomic():
        audit_record(actor=agent, action="case.teleport")
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_outside_a_transaction_is_refused(agent):
    with pytest.raises(RuntimeError):
        audit_record(actor=agent, action=Action.POLICY_UPDATE)


def test_the_detail_is_stored_in_its_canonical_form(agent):
    with transaction.atomic():
        event = audit_record(
            actor=SUBJECT,
            action=Action.CASE_DISPUTE,
            detail={"b": (1, 2), "a": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)},
        )
    event.refresh_from_db()
    assert event.detail == {"a": "2026-01-02T03:04:00Z", "b": [1, 2]}
    assert (event.actor_kind, event.actor_id, event.actor_label) == ("subject", None, "subject")


def test_every_action_the_services_write_is_in_the_enumeration():
    from cases.transitions import TRANSITIONS

    assert {f"case.{name}" for name, t in TRANSITIONS.items() if t.moves} <= set(Action.values)
