from django.contrib import admin

from recovery_desk.admin_tools import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "actor_label", "action", "case", "old_state", "new_state")
    list_filter = ("action",)
    list_select_related = ("case",)
    search_fields = ("actor_label", "action")
    show_full_result_count = False
