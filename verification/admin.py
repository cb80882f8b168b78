from django.contrib import admin

from cases.models import RecoveryCase
from recovery_desk.admin_tools import ReadOnlyAdmin

from .models import Evidence


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("case_reference", "method", "outcome", "score", "checked_by", "checked_at")
    list_filter = ("method", "outcome")
    list_select_related = ("checked_by",)

    @admin.display(description="Case", ordering="case")
    def case_reference(self, evidence):
        return RecoveryCase.reference_for(evidence.case_id)
