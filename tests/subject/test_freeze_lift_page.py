"""The "Lift the freeze" form on the Escalations page: identities frozen after a dispute on a
case of the reviewer's queues, lifted with a reason (``freeze_lift``)."""

from django.test import Client
from django.urls import reverse

from audit.actions import Action
from audit.models import AuditEvent
from cases.services import case_dispute
from directory.models import Identity
from tests.cases.builders import open_case
from tests.test_admin import _signed_in

PAGE = "/admin/desk/escalations/"


def test_a_reviewer_sees_a_frozen_identity_and_lifts_the_freeze(clock, agent, security_reviewer):
    case = case_dispute(case=open_case(opener=agent), statement="Not me.")
    subject = Identity.objects.get(pk=case.subject_id)
    client = _signed_in(Client(), security_reviewer)
    page = client.get(PAGE).content.decode()
    assert "Recoveries frozen after a dispute" in page and case.reference in page

    url = reverse("admin:desk:freeze_lift", args=[subject.pk])
    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 200 and "Say why recoveries may open again." in (
        refused.content.decode()
    )
    subject.refresh_from_db()
    assert subject.recovery_frozen_until is not None

    done = client.post(url, {"reason": "The owner confirmed the request in person."})
    assert done.status_code == 302
    subject.refresh_from_db()
    assert subject.recovery_frozen_until is None
    assert AuditEvent.objects.filter(action=Action.IDENTITY_FREEZE_LIFT).count() == 1
    assert "Recoveries frozen after a dispute" not in client.get(PAGE).content.decode()


def test_an_agent_cannot_lift_a_freeze(clock, agent):
    case = case_dispute(case=open_case(opener=agent), statement="Not me.")
    url = reverse("admin:desk:freeze_lift", args=[case.subject_id])
    response = _signed_in(Client(), agent).post(url, {"reason": "Because."})
    assert response.status_code == 403
    assert Identity.objects.get(pk=case.subject_id).recovery_frozen_until is not None
