"""Notices to a subject at their channels of record (docs/design.md "Notices").

``notify`` records one ``Notification`` per channel of record and hands each to a worker when
the transaction commits, so a rolled-back change sends nothing. ``notification_send`` makes
one attempt: a short transaction claims it on the locked row (pending, due, attempts left),
the message is sent outside any transaction, and a second short transaction records the
outcome. A redelivered or concurrent task finds the row sent or its attempt in flight (not
due) and sends nothing. The beat sweep re-drives pending rows whose message was lost.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import get_template, render_to_string

from directory.models import ChannelOfRecord, Identity
from recovery_desk import clock
from recovery_desk.errors import DomainError

from .backends import OutboundMessage, get_backend
from .models import Notification, Status

log = structlog.get_logger(__name__)

# Context keys whose values are secrets: sent, never stored (the row keeps "[redacted]").
SECRET_KEYS = frozenset({"code"})
REDACTED = "[redacted]"
SENDABLE_KINDS = (
    ChannelOfRecord.Kind.EMAIL,
    ChannelOfRecord.Kind.SMS,
    ChannelOfRecord.Kind.VOICE,
)
DAY = timedelta(hours=24)
MAX_BACKOFF = timedelta(seconds=300)
# How long an attempt in flight holds the row before the sweep may try again.
ATTEMPT_LEASE = timedelta(seconds=300)


class NoticeRefused(DomainError):
    code = "notice_refused"


def notify(
    *,
    identity: Identity,
    template: str,
    context: dict[str, Any],
    case=None,
    channels: Iterable[ChannelOfRecord | int] | None = None,
) -> list[Notification]:
    """One notice per channel of record of ``identity`` (all its email, SMS and voice channels
    by default; ``channels`` narrows that to some of them, each of which must be the
    identity's). An address past its daily cap gets a ``capped`` row and nothing is sent."""
    get_template(f"notices/{template}.txt")  # a typo fails here, not in the worker
    secret = {key: str(value) for key, value in context.items() if key in SECRET_KEYS}
    stored = {key: REDACTED if key in SECRET_KEYS else value for key, value in context.items()}
    of_record = ChannelOfRecord.objects.filter(identity=identity, kind__in=SENDABLE_KINDS)
    if channels is not None:
        wanted = {c.pk if isinstance(c, ChannelOfRecord) else int(c) for c in channels}
        of_record = of_record.filter(pk__in=wanted)
        if len(of_record) != len(wanted):
            raise NoticeRefused(
                "A notice goes only to the subject's own email, SMS or voice channels of record.",
                code="not_of_record",
            )
    made = []
    with transaction.atomic():
        now = clock.now()
        for channel in of_record.order_by("pk"):
            made.append(_make_one(identity, channel, template, stored, secret, case, now))
    return made


def _make_one(identity, channel, template, stored, secret, case, now) -> Notification:
    # Every channel with this address, locked: two notices at once cannot both pass the cap.
    list(ChannelOfRecord.objects.select_for_update().filter(address=channel.address).values("pk"))
    today = (
        Notification.objects.filter(address=channel.address, created_at__gt=now - DAY)
        .exclude(status=Status.CAPPED)
        .count()
    )
    capped = today >= settings.NOTICE_DAILY_CAP
    notice = Notification.objects.create(
        identity=identity,
        case=case,
        channel=channel,
        kind=channel.kind,
        address=channel.address,
        template=template,
        context=stored,
        carries_secret=bool(secret),
        status=Status.CAPPED if capped else Status.PENDING,
        last_error="daily cap reached" if capped else "",
        created_at=now,
        next_attempt_at=now,
    )
    if capped:
        log.warning(
            "notices.capped",
            notification_id=notice.pk,
            channel_id=channel.pk,
            cap=settings.NOTICE_DAILY_CAP,
        )
    else:
        transaction.on_commit(partial(enqueue_notification, notice.pk, secret or None))
    return notice


def enqueue_notification(
    notification_id: int, secret: dict[str, str] | None = None, countdown: float = 0
) -> None:
    """Hand the notice to a worker. A broker outage fails nothing that committed: the row
    stays pending and the sweep re-drives it."""
    from kombu.exceptions import OperationalError

    from .tasks import send_notification

    kwargs = {"secret": secret} if secret else {}
    try:
        if countdown:
            send_notification.apply_async((notification_id,), kwargs, countdown=countdown)
        else:
            send_notification.delay(notification_id, **kwargs)
    except (OperationalError, OSError) as error:
        log.warning("notices.not_enqueued", notification_id=notification_id, error=str(error))


def notification_send(*, notification_id: int, secret: dict[str, str] | None = None) -> str:
    """One attempt; returns the outcome ("sent", "retry", "given_up", "not_due", ...)."""
    claimed = _claim_attempt(notification_id, secret)
    if isinstance(claimed, str):
        return claimed
    try:
        _deliver(claimed, secret or {})
    except Exception as error:  # any provider failure is recorded and retried, never lost
        return _record_failure(claimed.pk, claimed.attempts, f"{type(error).__name__}: {error}")
    with transaction.atomic():
        notice = Notification.objects.select_for_update().get(pk=notification_id)
        if notice.status == Status.PENDING and notice.attempts == claimed.attempts:
            notice.status, notice.sent_at, notice.last_error = Status.SENT, clock.now(), ""
            notice.save(update_fields=["status", "sent_at", "last_error"])
    log.info("notices.sent", notification_id=notification_id, attempts=claimed.attempts)
    return Status.SENT


def _claim_attempt(notification_id: int, secret) -> Notification | str:
    with transaction.atomic():
        notice = (
            Notification.objects.select_for_update()
            .select_related("identity")
            .filter(pk=notification_id)
            .first()
        )
        if notice is None:
            return "missing"
        if notice.status != Status.PENDING:
            return notice.status
        now = clock.now()
        if notice.next_attempt_at > now:
            return "not_due"
        if notice.carries_secret and not secret:
            _give_up(notice, "the one-time code was not kept, so it cannot be sent again")
            return Status.GIVEN_UP
        notice.attempts += 1
        notice.next_attempt_at = now + ATTEMPT_LEASE
        notice.save(update_fields=["attempts", "next_attempt_at"])
        return notice


def _record_failure(notification_id: int, attempt: int, error: str) -> str:
    with transaction.atomic():
        notice = Notification.objects.select_for_update().get(pk=notification_id)
        if notice.status != Status.PENDING or notice.attempts != attempt:
            return "superseded"
        notice.last_error = error[:500]
        if notice.attempts >= settings.NOTICE_MAX_ATTEMPTS:
            _give_up(notice, notice.last_error)
            return Status.GIVEN_UP
        notice.next_attempt_at = clock.now() + backoff(notice.attempts)
        notice.save(update_fields=["last_error", "next_attempt_at"])
    log.warning("notices.retry", notification_id=notification_id, attempts=attempt)
    return "retry"


def _give_up(notice: Notification, error: str) -> None:
    notice.status, notice.last_error = Status.GIVEN_UP, error[:500]
    notice.save(update_fields=["status", "last_error"])
    log.warning("notices.given_up", notification_id=notice.pk, attempts=notice.attempts)


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: the base, doubled each time, at most 5 minutes."""
    base = timedelta(seconds=settings.NOTICE_RETRY_BACKOFF_SECONDS)
    return min(base * 2 ** (attempts - 1), MAX_BACKOFF)


def render(notice: Notification, secret: dict[str, str]) -> tuple[str, str]:
    """(subject, body) of the notice; the subject is empty except for email."""
    context = {**notice.context, **secret, "display_name": notice.identity.display_name}
    body = render_to_string(f"notices/{notice.template}.txt", context).strip() + "\n"
    subject = ""
    if notice.kind == ChannelOfRecord.Kind.EMAIL:
        subject = " ".join(
            render_to_string(f"notices/{notice.template}_subject.txt", context).split()
        )
    return subject, body


def _deliver(notice: Notification, secret: dict[str, str]) -> None:
    subject, body = render(notice, secret)
    if notice.kind == ChannelOfRecord.Kind.EMAIL:
        sent = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [notice.address]).send()
    else:
        message = OutboundMessage(kind=notice.kind, to=notice.address, body=body)
        sent = get_backend(notice.kind).send_messages([message])
    if sent != 1:
        raise RuntimeError("the backend accepted no message")


def due_notifications(*, now: datetime, limit: int) -> list[int]:
    """Pending notices whose attempt is due: a message lost with the broker, a retry whose
    message was lost, an attempt whose worker died. A notice carrying a code waits a lease
    longer, so its own retry (which holds the code) goes first."""
    due = Notification.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
    plain = due.filter(carries_secret=False)
    coded = due.filter(carries_secret=True, next_attempt_at__lte=now - ATTEMPT_LEASE)
    ids = list(plain.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    ids += list(coded.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    return ids[:limit]


def notifications_sweep(*, batch_size: int) -> dict[str, int]:
    """Hand every due pending notice to a worker again (each attempt re-checks its row, so a
    notice handed over twice is sent once). A notice whose code was lost with its message is
    given up here: it cannot be sent without the code."""
    counts = {"enqueued": 0, "given_up": 0}
    due = due_notifications(now=clock.now(), limit=batch_size)
    coded = set(
        Notification.objects.filter(pk__in=due, carries_secret=True).values_list("pk", flat=True)
    )
    for notification_id in due:
        if notification_id in coded:
            if notification_send(notification_id=notification_id) == Status.GIVEN_UP:
                counts["given_up"] += 1
        else:
            enqueue_notification(notification_id)
            counts["enqueued"] += 1
    return counts
