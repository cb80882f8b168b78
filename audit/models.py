from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .actions import Action, ActorKind


class AuditEvent(models.Model):
    """One row per action, append-only. Issue "tamper-evident trail" chains and DB-protects it."""

    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    actor_kind = models.CharField(max_length=16, choices=ActorKind, default=ActorKind.STAFF)
    # Kept even if the user is renamed: the trail must read the same forever.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True, choices=Action)
    case = models.ForeignKey(
        "cases.RecoveryCase",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    identity = models.ForeignKey(
        "directory.Identity", null=True, blank=True, on_delete=models.PROTECT
    )
    old_state = models.CharField(max_length=32, blank=True, default="")
    new_state = models.CharField(max_length=32, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["case", "id"], name="audit_case_idx"),
            # The trail browser reads "the newest 51 events of X", newest first by
            # (occurred_at, id): one backward index range per filter (audit/selectors.py).
            models.Index(fields=["occurred_at", "id"], name="audit_time_idx"),
            models.Index(fields=["identity", "occurred_at", "id"], name="audit_identity_idx"),
            models.Index(fields=["actor", "occurred_at", "id"], name="audit_actor_idx"),
            models.Index(fields=["action", "occurred_at", "id"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")
