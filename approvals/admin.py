from django.contrib import admin

from cases.models import RecoveryCase
from recovery_desk.admin_tools import BoundedListAdmin, CaseReference, ReadOnlyAdmin, StaffUsers

from .models import Approval


@admin.register(Approval)
class ApprovalAdmin(BoundedListAdmin, ReadOnlyAdmin):
    list_display = ("case_reference", "approver", "decision", "decided_at", "valid_until")
    list_filter = ("decision",)
    list_select_related = ("approver",)
    ordering = ("-pk",)
    search_fields = ("case__id", "approver__username")
    search_by = (CaseReference("case_id"), StaffUsers("approver_id"))
    search_help_text = "A case reference (RC-000123), or the start of the approver's username."

    @admin.display(description="Case", ordering="case")
    def case_reference(self, approval):
        """The reference only: a decision is read against the case as it was, not as it is."""
        return RecoveryCase.reference_for(approval.case_id)
