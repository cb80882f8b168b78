"""Notices to a subject (issue #14): one per channel of record, on commit, capped per address,
never to an address the caller names, never a code kept in clear."""

import inspect
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from kombu.exceptions import OperationalError
from structlog.testing import capture_logs

from directory.models import ChannelOfRecord
from notices.models import Notification, OutboxMessage, Status
from notices.selectors import outbox_for
from notices.services import NoticeRefused, notification_send, notify, render
from notices.tasks import send_notification, sweep_pending_notifications
from recovery_desk import clock as one_clock
from tests.directory.factories import ChannelFactory, IdentityFactory

from .conftest import channel

pytestmark = pytest.mark.django_db
EMAIL, SMS = ChannelOfRecord.Kind.EMAIL, ChannelOfRecord.Kind.SMS


def test_one_notice_per_channel_of_record_sent_once_the_transaction_commits(
    clock, subject, run_eagerly, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notices = notify(
            identity=subject,
            template="case_opened",
            context={"case_reference": "RC-000042", "dispute_url": "https://desk.test/d/abc"},
        )
    assert sorted(n.kind for n in notices) == ["email", "sms"]  # push has no backend
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}
    assert Notification.objects.filter(attempts=1).count() == 2
    [email] = mail.outbox
    assert email.to == ["nora@example.test"]
    assert email.subject == "A request to recover your account (RC-000042)"
    assert "https://desk.test/d/abc" in email.body
    [sms] = outbox_for("+15550100")
    assert sms.kind == "sms" and "RC-000042" in sms.body and "Nora Subject" in sms.body


def test_nothing_is_enqueued_or_sent_when_the_transaction_rolls_back(
    clock, subject, enqueued, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(identity=subject, template="case_opened", context={})
        raise RuntimeError("the case change failed")
    assert callbacks == [] and enqueued == []
    assert not Notification.objects.exists() and not OutboxMessage.objects.exists()


def test_nothing_is_enqueued_before_the_commit(clock, subject, enqueued):
    with transaction.atomic():
        notify(identity=subject, template="case_opened", context={})
        assert enqueued == []


def test_a_broker_outage_delays_the_notice_and_the_sweep_sends_it(
    clock, subject, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused")

    monkeypatch.setattr(send_notification, "delay", broker_down)
    with capture_logs() as logs, django_capture_on_commit_callbacks(execute=True):
        notify(
            identity=subject, template="case_opened", context={}, channels=[channel(subject, SMS)]
        )
    assert [log["event"] for log in logs] == ["notices.not_enqueued"]
    notice = Notification.objects.get()
    assert notice.status == Status.PENDING and notice.attempts == 0

    # The broker is back: the beat sweep hands the notice to a worker again.
    monkeypatch.setattr(
        send_notification,
        "delay",
        lambda pk, **kw: send_notification.apply(args=(pk,), kwargs=kw).get(),
    )
    clock.shift(timedelta(minutes=1))
    assert sweep_pending_notifications.apply().get() == {"enqueued": 1, "given_up": 0}
    notice.refresh_from_db()
    assert notice.status == Status.SENT and notice.sent_at == one_clock.now()
    assert OutboxMessage.objects.filter(to="+15550100").count() == 1
    assert sweep_pending_notifications.apply().get() == {"enqueued": 0, "given_up": 0}


def test_the_daily_cap_records_a_capped_notice_and_warns_without_raising(
    clock, subject, enqueued, settings, django_capture_on_commit_callbacks
):
    settings.NOTICE_DAILY_CAP = 2
    sms = channel(subject, SMS)
    # Someone else sharing the number counts towards the same cap.
    other = IdentityFactory()
    ChannelFactory(identity=other, kind=SMS, address=sms.address)
    with django_capture_on_commit_callbacks(execute=True):
        notify(identity=subject, template="case_opened", context={}, channels=[sms])
        notify(identity=other, template="case_opened", context={})
        with capture_logs() as logs:
            [capped] = notify(identity=subject, template="case_opened", context={}, channels=[sms])
    assert capped.status == Status.CAPPED and capped.last_error == "daily cap reached"
    assert [log["event"] for log in logs] == ["notices.capped"]
    assert logs[0]["log_level"] == "warning"
    assert len(enqueued) == 2 and capped.pk not in [pk for pk, _ in enqueued]

    clock.shift(timedelta(hours=24, seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        [again] = notify(identity=subject, template="case_opened", context={}, channels=[sms])
    assert again.status == Status.PENDING and enqueued[-1][0] == again.pk


def test_a_failing_provider_is_retried_with_backoff_then_given_up(
    clock, subject, enqueued, settings
):
    settings.SMS_BACKEND = "tests.notices.test_notify.DownProvider"
    settings.NOTICE_MAX_ATTEMPTS = 3
    settings.NOTICE_RETRY_BACKOFF_SECONDS = 30
    [notice] = notify(
        identity=subject, template="case_opened", context={}, channels=[channel(subject, SMS)]
    )
    assert send_notification.apply(args=(notice.pk,)).get() == "retry"
    notice.refresh_from_db()
    assert (notice.attempts, notice.status) == (1, Status.PENDING)
    assert notice.last_error == "ConnectionError: provider unreachable"
    assert notice.next_attempt_at == one_clock.now() + timedelta(seconds=30)
    assert enqueued[-1][0] == notice.pk  # the next attempt, handed to the broker

    assert notification_send(notification_id=notice.pk) == "not_due"
    clock.shift(timedelta(seconds=30))
    assert notification_send(notification_id=notice.pk) == "retry"
    notice.refresh_from_db()
    assert notice.next_attempt_at == one_clock.now() + timedelta(seconds=60)  # doubled
    # The retry's message is lost: the sweep hands the notice over again once it is due.
    enqueued.clear()
    clock.shift(timedelta(seconds=59))
    assert sweep_pending_notifications.apply().get()["enqueued"] == 0  # not due yet
    clock.shift(timedelta(seconds=1))
    assert sweep_pending_notifications.apply().get()["enqueued"] == 1
    assert enqueued == [(notice.pk, {})]
    with capture_logs() as logs:
        assert send_notification.apply(args=(notice.pk,)).get() == Status.GIVEN_UP
    notice.refresh_from_db()
    assert (notice.attempts, notice.status) == (3, Status.GIVEN_UP)
    assert "notices.given_up" in [log["event"] for log in logs]

    settings.SMS_BACKEND = "notices.backends.outbox.OutboxBackend"
    clock.shift(timedelta(hours=1))
    assert notification_send(notification_id=notice.pk) == Status.GIVEN_UP
    assert not OutboxMessage.objects.exists()


def test_running_the_task_twice_or_concurrently_sends_once(clock, subject, settings):
    settings.SMS_BACKEND = "tests.notices.test_notify.ReentrantProvider"
    [notice] = notify(
        identity=subject, template="case_opened", context={}, channels=[channel(subject, SMS)]
    )
    ReentrantProvider.inner = []
    assert notification_send(notification_id=notice.pk) == Status.SENT
    # A second run while the first was sending found the attempt in flight.
    assert ReentrantProvider.inner == ["not_due"]
    assert send_notification.apply(args=(notice.pk,)).get() == Status.SENT  # redelivered
    assert OutboxMessage.objects.count() == 1
    assert Notification.objects.get().attempts == 1
    assert send_notification.apply(args=(999_999,)).get() == "missing"


def test_a_notice_goes_only_to_the_subjects_own_channels_of_record(clock, subject, enqueued):
    stranger = ChannelFactory(kind=SMS, address="+15550199")  # another identity's number
    push = channel(subject, ChannelOfRecord.Kind.PUSH)
    for wrong in ([stranger], [stranger.pk], [channel(subject, SMS), stranger], [push]):
        with pytest.raises(NoticeRefused) as refused:
            notify(identity=subject, template="case_opened", context={}, channels=wrong)
        assert refused.value.code == "not_of_record"
    assert not Notification.objects.exists()
    # There is no way to name an address: only channels of record.
    assert set(inspect.signature(notify).parameters) == {
        "identity",
        "template",
        "context",
        "case",
        "channels",
    }
    [notice] = notify(
        identity=subject,
        template="case_opened",
        context={"address": "+15550199", "to": "+15550199"},
        channels=[channel(subject, SMS)],
    )
    assert notice.address == "+15550100"


def test_a_one_time_code_is_sent_and_never_kept_in_clear(
    clock, subject, run_eagerly, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [notice] = notify(
            identity=subject,
            template="one_time_code",
            context={"code": "493817", "case_reference": "RC-000007"},
            channels=[channel(subject, SMS)],
        )
    row = Notification.objects.filter(pk=notice.pk).values().get()
    assert "493817" not in repr(row)
    assert row["context"] == {"code": "[redacted]", "case_reference": "RC-000007"}
    assert row["status"] == Status.SENT
    assert "493817" in OutboxMessage.objects.get().body  # the provider gets it


def test_a_code_whose_message_was_lost_is_given_up_not_sent_without_it(
    clock, subject, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [notice] = notify(
            identity=subject,
            template="one_time_code",
            context={"code": "493817"},
            channels=[channel(subject, SMS)],
        )
    assert enqueued == [(notice.pk, {"secret": {"code": "493817"}})]
    # The message is lost: the sweep leaves it alone for a while (its own retry may come)...
    clock.shift(timedelta(minutes=4))
    assert sweep_pending_notifications.apply().get() == {"enqueued": 0, "given_up": 0}
    # ...then records that it cannot be sent, rather than sending "[redacted]".
    clock.shift(timedelta(minutes=2))
    assert sweep_pending_notifications.apply().get() == {"enqueued": 0, "given_up": 1}
    notice.refresh_from_db()
    assert notice.status == Status.GIVEN_UP and "not kept" in notice.last_error
    assert not OutboxMessage.objects.exists()


def test_an_unknown_template_fails_at_the_call_not_in_the_worker(clock, subject):
    from django.template import TemplateDoesNotExist

    with pytest.raises(TemplateDoesNotExist):
        notify(identity=subject, template="no_such_notice", context={})
    assert not Notification.objects.exists()


@pytest.mark.parametrize("template", ["case_opened", "cooling_off_started"])
def test_templates_carry_the_dispute_link_when_there_is_one(clock, subject, enqueued, template):
    context = {"case_reference": "RC-000042", "hold_until": "2026-12-02 09:00"}
    for kind in (EMAIL, SMS):
        [with_link] = notify(
            identity=subject,
            template=template,
            context={**context, "dispute_url": "https://desk.test/d/xyz"},
            channels=[channel(subject, kind)],
        )
        [without] = notify(
            identity=subject, template=template, context=context, channels=[channel(subject, kind)]
        )
        subject_line, body = render(with_link, {})
        assert "https://desk.test/d/xyz" in body and "RC-000042" in body
        assert bool(subject_line) == (kind == EMAIL)
        assert "the number you know" in render(without, {})[1]


def test_the_console_backend_prints_and_the_demo_reads_the_outbox(clock, subject, settings):
    import io

    from notices.backends import OutboundMessage
    from notices.backends.console import ConsoleBackend

    stream = io.StringIO()
    message = OutboundMessage(kind="voice", to="+15550100", body="Your code is 1 2 3")
    assert ConsoleBackend(stream=stream).send_messages([message]) == 1
    assert "[voice to +15550100]" in stream.getvalue()
    settings.SMS_BACKEND = "notices.backends.outbox.OutboxBackend"
    for _ in range(2):
        [notice] = notify(
            identity=subject, template="case_opened", context={}, channels=[channel(subject, SMS)]
        )
        notification_send(notification_id=notice.pk)
    newest, older = outbox_for("+15550100")
    assert newest.pk > older.pk and not outbox_for("+15550199")


class DownProvider:
    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionError("provider unreachable")


class ReentrantProvider:
    """Sends, and while sending another worker runs the same notice."""

    inner: list[str] = []

    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        from notices.backends.outbox import OutboxBackend

        notice = Notification.objects.get(address=messages[0].to)
        ReentrantProvider.inner.append(notification_send(notification_id=notice.pk))
        return OutboxBackend().send_messages(messages)
