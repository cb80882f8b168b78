import structlog
from celery import shared_task
from django.conf import settings

log = structlog.get_logger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_due_cases() -> dict[str, int]:
    """Beat runs this every minute; safe to run twice or concurrently (each case re-locks)."""
    from cases.services import case_sweep_due

    counts = case_sweep_due(batch_size=settings.SWEEP_BATCH_SIZE)
    log.info("cases.sweep", **counts)
    return counts
