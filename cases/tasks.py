import structlog
from celery import shared_task
from django.conf import settings

from directory.connectors import ConnectorError

log = structlog.get_logger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_due_cases() -> dict[str, int]:
    """Beat runs this every minute; safe to run twice or concurrently (each case re-locks)."""
    from cases.sweep import case_sweep_due

    counts = case_sweep_due(batch_size=settings.SWEEP_BATCH_SIZE)
    log.info("cases.sweep", **counts)
    return counts


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def execute_case(self, case_id: int) -> str:
    """Call the directory for one executing case; safe to run twice or concurrently (the
    connector is idempotent and only one outcome commits). Attempts are counted in the
    database, not in the message, so a redelivered task does not get extra tries."""
    from cases.execution import execution_attempts_left, execution_give_up, execution_run
    from cases.models import RecoveryCase

    try:
        return execution_run(case_id=case_id).state
    except RecoveryCase.DoesNotExist:
        log.warning("cases.execution_no_such_case", case_id=case_id)
        return "missing"
    except ConnectorError as error:
        if not execution_attempts_left(case_id=case_id):
            return execution_give_up(case_id=case_id, error=str(error)).state
        backoff = min(settings.EXECUTION_RETRY_BACKOFF_SECONDS * 2**self.request.retries, 300)
        log.warning("cases.execution_retry", case_id=case_id, countdown=backoff)
        raise self.retry(exc=error, countdown=backoff) from error
