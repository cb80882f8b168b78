"""Notices to a subject, always at a channel of record (docs/design.md "Notices").

A ``Notification`` records one message to one channel: the template, the context with every
secret redacted (a one-time code never reaches this table), and how delivery went. The address
is copied from the channel of record when the row is made, never typed by anyone.

``OutboxMessage`` is the embedded SMS, voice and email backends' table: what a provider would
have been handed, code included. Only where outbox backends are allowed (notices/checks.py)
and only administrators can read it.
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from recovery_desk import clock


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    GIVEN_UP = "given_up", "Given up"
    CAPPED = "capped", "Not sent: daily cap reached"


class Notification(models.Model):
    identity = models.ForeignKey(
        "directory.Identity", on_delete=models.PROTECT, related_name="notifications"
    )
    case = models.ForeignKey(
        "cases.RecoveryCase",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    channel = models.ForeignKey(
        "directory.ChannelOfRecord", on_delete=models.PROTECT, related_name="notifications"
    )
    # Copies of the channel's kind and address when the notice was made (the cap counts them).
    kind = models.CharField(max_length=8)
    address = models.CharField(max_length=254)
    template = models.CharField(max_length=64)
    # The template's context with secret values replaced by "[redacted]".
    context = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    # The message carries a secret (a one-time code) that only the task's message holds.
    carries_secret = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due (also the lease of an attempt in flight).
    next_attempt_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(fields=["address", "created_at"], name="notice_address_created"),
            models.Index(
                fields=["next_attempt_at"],
                name="notice_pending_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.get_kind_display()} ({self.get_status_display()})"

    def get_kind_display(self) -> str:
        from directory.models import ChannelOfRecord

        return str(dict(ChannelOfRecord.Kind.choices).get(self.kind, self.kind))


class OutboxMessage(models.Model):
    kind = models.CharField(max_length=8)
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField()
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["to", "created_at"], name="outbox_to_created")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"
