from typing import Any

from django.db import connection
from django.utils import timezone

from .models import AuditEvent

SYSTEM_ACTOR = "system"


def audit_record(
    *,
    actor,
    action: str,
    case=None,
    identity=None,
    old_state: str = "",
    new_state: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Must run inside the transaction of the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change.")
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        actor=actor,
        actor_label=actor.get_username() if actor is not None else SYSTEM_ACTOR,
        action=action,
        case=case,
        identity=identity if identity is not None else getattr(case, "subject", None),
        old_state=old_state,
        new_state=new_state,
        detail=detail or {},
    )
