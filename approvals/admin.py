from django.contrib import admin

from recovery_desk.admin_tools import ReadOnlyAdmin

from .models import Approval


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("case", "approver", "decision", "decided_at", "valid_until")
    list_filter = ("decision",)
    list_select_related = ("case", "approver")
