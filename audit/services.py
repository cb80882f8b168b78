from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from recovery_desk import clock
from recovery_desk.actors import SUBJECT

from .actions import Action, ActorKind
from .canonical import canonical
from .models import AuditEvent


def actor_kind_of(actor) -> str:
    """Staff are users; the subject and the system are markers (``cases.access``)."""
    if isinstance(actor, AbstractBaseUser):
        return ActorKind.STAFF
    if actor is SUBJECT:
        return ActorKind.SUBJECT
    return ActorKind.SYSTEM


def audit_record(
    *,
    actor,
    action: Action | str,
    case=None,
    identity=None,
    old_state: str = "",
    new_state: str = "",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
    actor_kind: str | None = None,
) -> AuditEvent:
    """Append one audit event: THE one path every event takes (the hash chain, notifications
    and webhooks attach here). Must run inside the transaction of the change it records.

    ``action`` must be one of ``Action``; ``actor`` a staff user, ``recovery_desk.actors.SUBJECT``
    or ``SYSTEM``/None; ``detail`` is stored in its canonical JSON form.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change.")
    action = Action(action)  # ValueError for an action outside the enumeration
    kind = ActorKind(actor_kind or actor_kind_of(actor))
    staff = actor if kind == ActorKind.STAFF else None
    return AuditEvent.objects.create(
        occurred_at=at or clock.now(),
        actor=staff,
        actor_kind=kind,
        actor_label=staff.get_username() if staff is not None else kind.value,
        action=action,
        case=case,
        identity=identity if identity is not None else getattr(case, "subject", None),
        old_state=old_state,
        new_state=new_state,
        detail=canonical(detail),
    )
