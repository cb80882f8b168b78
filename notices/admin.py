"""Notices, read-only. Notifications (no secret in them) are open to every desk role; the
outbox holds what the embedded backends "sent", codes included, so only administrators read
it (no role is given its view permission)."""

from django.contrib import admin

from recovery_desk.admin_tools import BoundedListAdmin, CaseReference, ReadOnlyAdmin, Subjects

from .models import Notification, OutboxMessage


@admin.register(Notification)
class NotificationAdmin(BoundedListAdmin, ReadOnlyAdmin):
    list_display = ("created_at", "identity", "kind", "template", "status", "attempts", "sent_at")
    list_filter = ("status", "kind")
    list_select_related = ("identity",)
    ordering = ("-pk",)
    search_fields = ("case__id", "identity__username")
    search_by = (CaseReference("case_id"), Subjects("identity_id"))
    search_help_text = "A case reference (RC-000123), or the start of a subject's username."


@admin.register(OutboxMessage)
class OutboxMessageAdmin(BoundedListAdmin, ReadOnlyAdmin):
    list_display = ("created_at", "kind", "to", "subject")
    list_filter = ("kind",)
    ordering = ("-pk",)
