from django.contrib import admin

from recovery_desk.admin_tools import ReadOnlyAdmin

from .models import Evidence


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("case", "method", "outcome", "score", "checked_by", "checked_at")
    list_filter = ("method", "outcome")
    list_select_related = ("case", "checked_by")
