from django.contrib import admin

from cases.models import RecoveryCase
from recovery_desk.admin_tools import (
    BoundedListAdmin,
    CaseReference,
    OneOf,
    ReadOnlyAdmin,
    StaffUsers,
    Subjects,
)

from .actions import Action
from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(BoundedListAdmin, ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "actor_label",
        "action",
        "case_reference",
        "old_state",
        "new_state",
    )
    list_filter = ("action",)
    ordering = ("-pk",)  # newest first, by the primary key
    search_fields = ("case__id", "action", "actor__username", "identity__username")
    search_by = (
        CaseReference("case_id"),
        OneOf("action", frozenset(Action.values)),
        StaffUsers("actor_id"),
        Subjects("identity_id"),
    )
    search_help_text = (
        "A case reference (RC-000123), an action (case.claim), the start of a staff username, "
        "or the start of a subject's username or employee id."
    )

    @admin.display(description="Case", ordering="case")
    def case_reference(self, event):
        """The reference only: the case's present state next to an old event would mislead."""
        return RecoveryCase.reference_for(event.case_id) if event.case_id else "-"
