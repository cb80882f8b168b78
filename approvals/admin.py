from django.contrib import admin

from cases.models import RecoveryCase
from recovery_desk.admin_tools import ReadOnlyAdmin

from .models import Approval


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("case_reference", "approver", "decision", "decided_at", "valid_until")
    list_filter = ("decision",)
    list_select_related = ("approver",)

    @admin.display(description="Case", ordering="case")
    def case_reference(self, approval):
        """The reference only: a decision is read against the case as it was, not as it is."""
        return RecoveryCase.reference_for(approval.case_id)
