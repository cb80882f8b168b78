from django.contrib import admin

from cases.models import RecoveryCase
from recovery_desk.admin_tools import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "actor_label",
        "action",
        "case_reference",
        "old_state",
        "new_state",
    )
    list_filter = ("action",)
    search_fields = ("actor_label", "action")
    show_full_result_count = False

    @admin.display(description="Case", ordering="case")
    def case_reference(self, event):
        """The reference only: the case's present state next to an old event would mislead."""
        return RecoveryCase.reference_for(event.case_id) if event.case_id else "-"
