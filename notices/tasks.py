import structlog
from celery import shared_task
from django.conf import settings

log = structlog.get_logger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_notification(notification_id: int, secret: dict[str, str] | None = None) -> str:
    """One attempt at one notice; safe to run twice or concurrently (the row is claimed under
    its lock). After a failure it hands itself the next attempt, due at the row's
    ``next_attempt_at`` (at most 5 minutes away); the sweep covers a lost message."""
    from recovery_desk import clock

    from .models import Notification
    from .services import enqueue_notification, notification_send

    outcome = notification_send(notification_id=notification_id, secret=secret)
    if outcome == "retry":
        due = Notification.objects.values_list("next_attempt_at", flat=True).get(pk=notification_id)
        wait = max((due - clock.now()).total_seconds(), 1)
        enqueue_notification(notification_id, secret, countdown=wait)
    return outcome


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_pending_notifications() -> dict[str, int]:
    """Beat runs this every minute: pending notices that are due and whose message was lost."""
    from .services import notifications_sweep

    counts = notifications_sweep(batch_size=settings.SWEEP_BATCH_SIZE)
    log.info("notices.sweep", **counts)
    return counts
