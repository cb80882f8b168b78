from django.contrib import admin

from cases.models import RecoveryCase
from recovery_desk.admin_tools import BoundedListAdmin, CaseReference, ReadOnlyAdmin, Subjects

from .models import Evidence


@admin.register(Evidence)
class EvidenceAdmin(BoundedListAdmin, ReadOnlyAdmin):
    list_display = ("case_reference", "method", "outcome", "score", "checked_by", "checked_at")
    list_filter = ("method", "outcome")
    list_select_related = ("checked_by",)
    ordering = ("-pk",)
    search_fields = ("case__id", "case__subject__username", "case__subject__employee_id")
    search_by = (CaseReference("case_id"), Subjects("case__subject_id"))
    search_help_text = (
        "A case reference (RC-000123), or the start of the subject's username or employee id."
    )

    @admin.display(description="Case", ordering="case")
    def case_reference(self, evidence):
        return RecoveryCase.reference_for(evidence.case_id)
