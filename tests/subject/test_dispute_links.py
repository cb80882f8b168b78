"""Notices with a dispute link, and the public page that follows it (docs/design.md
"Notices"): "this was not me" cancels the case without signing in."""

import re
from datetime import timedelta

from django.urls import reverse

from audit.models import AuditEvent
from cases.dispute_services import dispute_confirm, token_hash
from cases.models import DisputeToken
from cases.states import State
from directory.models import ChannelOfRecord, RiskTier
from notices.models import Notification, Status
from notices.services import render
from tests.cases.builders import new_subject, open_case
from tests.directory.factories import ChannelFactory
from tests.helpers import cooling_off_case, executing_case

INVALID = "This link is no longer valid"


def with_channels(subject):
    ChannelFactory(identity=subject, kind=ChannelOfRecord.Kind.EMAIL, address="who@example.test")
    ChannelFactory(identity=subject, kind=ChannelOfRecord.Kind.SMS, address="+15550199")
    return subject


def token_in(notice: Notification) -> str:
    """The token in the link of the rendered notice, as the subject receives it."""
    found = re.findall(r"/dispute/([^/\s]+)/", render(notice, {})[1])
    assert len(found) == 1
    return found[0]


def opened_with_link(agent, capture, enqueued):
    """A case opened for someone with two channels of record; returns it and the token sent."""
    with capture(execute=True):
        case = open_case(opener=agent, subject=with_channels(new_subject()))
    tokens = {token_in(n) for n in Notification.objects.filter(case=case)}
    assert len(tokens) == 1  # one link per notice, the same for every channel
    return case, tokens.pop()


def test_opening_a_case_notifies_every_channel_of_record_with_a_redacted_link(
    clock, agent, django_capture_on_commit_callbacks, enqueued
):
    case, token = opened_with_link(agent, django_capture_on_commit_callbacks, enqueued)
    notices = Notification.objects.filter(case=case)
    assert {(n.template, n.kind, n.status) for n in notices} == {
        ("case_opened", ChannelOfRecord.Kind.EMAIL, Status.PENDING),
        ("case_opened", ChannelOfRecord.Kind.SMS, Status.PENDING),
    }
    row = DisputeToken.objects.get(case=case)
    for notice in notices:
        # The row keeps which link, never the token: it is computed again at sending.
        assert notice.context["dispute_token"] == row.pk
        assert notice.context["case_reference"] == case.reference
        assert token not in str(notice.context) and not notice.carries_secret
        assert enqueued and all(kwargs == {} for _, kwargs in enqueued)  # not in the message
    # Only the token's hash is kept.
    assert row.token_hash == token_hash(token)
    assert token not in {row.salt, row.token_hash}


def test_a_subject_without_channels_gets_no_notice_and_the_case_opens(clock, agent):
    case = open_case(opener=agent)
    assert case.state == State.NEW
    assert not Notification.objects.filter(case=case).exists()


def test_cooling_off_notifies_with_a_new_link_and_the_hold(
    clock, agent, manager, other_manager, django_capture_on_commit_callbacks, enqueued
):
    subject = with_channels(new_subject(tier=RiskTier.PRIVILEGED))
    with django_capture_on_commit_callbacks(execute=True):
        case = cooling_off_case(agent=agent, approvers=[manager, other_manager], subject=subject)
    notice = Notification.objects.get(case=case, template="cooling_off_started", kind="email")
    opened = Notification.objects.get(case=case, template="case_opened", kind="email")
    assert token_in(notice) != token_in(opened)
    assert notice.context["hold_until"] == case.hold_until.strftime("%Y-%m-%d %H:%M")
    assert DisputeToken.objects.filter(case=case).count() == 2  # opened, cooling off


def test_a_service_identity_is_noticed_through_its_owner(clock, agent):
    from tests.directory.factories import IdentityFactory

    owner = with_channels(IdentityFactory())
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    case = open_case(opener=agent, subject=service, tier=RiskTier.SERVICE)
    assert {n.identity_id for n in Notification.objects.filter(case=case)} == {owner.pk}


def test_the_link_is_rendered_in_the_message_body(
    clock, agent, django_capture_on_commit_callbacks, monkeypatch
):
    from notices.selectors import outbox_for
    from notices.tasks import send_notification

    monkeypatch.setattr(
        send_notification,
        "delay",
        lambda pk, **kw: send_notification.apply(args=(pk,), kwargs=kw).get(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(opener=agent, subject=with_channels(new_subject()))
    sms = outbox_for("+15550199")
    assert len(sms) == 1 and "/dispute/" in sms[0].body and case.reference in sms[0].body


def test_a_broker_outage_at_opening_delays_the_notice_and_loses_nothing(
    clock, agent, django_capture_on_commit_callbacks, monkeypatch
):
    """The case opens; the notice waits in the database; the sweep sends it, link included."""
    from kombu.exceptions import OperationalError

    from notices.selectors import outbox_for
    from notices.services import notifications_sweep
    from notices.tasks import send_notification

    def down(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(send_notification, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(opener=agent, subject=with_channels(new_subject()))
    assert case.state == State.NEW
    notices = Notification.objects.filter(case=case)
    assert set(notices.values_list("status", flat=True)) == {Status.PENDING}
    assert not outbox_for("+15550199").exists()

    monkeypatch.setattr(
        send_notification,
        "delay",
        lambda pk, **kw: send_notification.apply(args=(pk,), kwargs=kw).get(),
    )
    assert notifications_sweep(batch_size=10) == {"enqueued": 2, "given_up": 0}
    assert set(notices.values_list("status", flat=True)) == {Status.SENT}
    [sms] = outbox_for("+15550199")
    token = token_in(notices.get(kind="sms"))
    assert f"/dispute/{token}/" in sms.body
    assert dispute_confirm(token=token) is not None


class TestThePublicPage:
    def test_the_link_asks_first_then_cancels_the_case_once(
        self, clock, agent, client, django_capture_on_commit_callbacks, enqueued
    ):
        case, token = opened_with_link(agent, django_capture_on_commit_callbacks, enqueued)
        url = reverse("subject_dispute", args=[token])
        asked = client.get(url)
        assert asked.status_code == 200
        assert b"Was this you?" in asked.content and b"this was not me" in asked.content
        case.refresh_from_db()
        assert case.state == State.NEW  # a GET (a link preview) changes nothing

        done = client.post(url, {"statement": "I never called."})
        assert done.status_code == 200 and b"stopped" in done.content
        case.refresh_from_db()
        assert (case.state, case.closing_reason) == (State.CANCELLED, "I never called.")
        event = AuditEvent.objects.get(case=case, action="case.dispute")
        assert event.actor_kind == "subject"
        assert DisputeToken.objects.get(case=case).used_at is not None

        again = client.post(url, {"statement": "again"})
        assert again.status_code == 404 and INVALID.encode() in again.content

    def test_unknown_used_and_expired_links_get_the_same_answer(
        self, clock, agent, client, django_capture_on_commit_callbacks, enqueued
    ):
        used_case, used = opened_with_link(agent, django_capture_on_commit_callbacks, enqueued)
        assert dispute_confirm(token=used) is not None
        enqueued.clear()
        _, expired = opened_with_link(agent, django_capture_on_commit_callbacks, enqueued)
        clock.shift(timedelta(days=15))
        answers = []
        for token in ("x" * 43, used, expired):
            for method in (client.get, client.post):
                response = method(reverse("subject_dispute", args=[token]))
                answers.append((response.status_code, response.content))
        assert len(set(answers)) == 1
        assert answers[0][0] == 404 and INVALID.encode() in answers[0][1]

    def test_the_confirmation_is_csrf_protected(
        self, clock, agent, django_capture_on_commit_callbacks, enqueued
    ):
        from django.test import Client

        case, token = opened_with_link(agent, django_capture_on_commit_callbacks, enqueued)
        response = Client(enforce_csrf_checks=True).post(reverse("subject_dispute", args=[token]))
        assert response.status_code == 403
        case.refresh_from_db()
        assert case.state == State.NEW

    def test_a_case_on_the_directory_cannot_be_stopped_by_the_link(
        self, clock, agent, client, django_capture_on_commit_callbacks, enqueued
    ):
        subject = with_channels(new_subject())
        with django_capture_on_commit_callbacks(execute=True):
            case = executing_case(agent=agent, subject=subject)
        token = token_in(Notification.objects.filter(case=case).first())
        response = client.post(reverse("subject_dispute", args=[token]))
        assert response.status_code == 404
        case.refresh_from_db()
        assert case.state == State.EXECUTING
