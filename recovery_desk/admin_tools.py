from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from simple_history.admin import SimpleHistoryAdmin

from recovery_desk.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: staff may look, never add, edit or delete here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HistoryAdmin(SimpleHistoryAdmin):
    """History pages to read, never to write.

    simple-history's per-version form saves on POST for anyone allowed to *view* history
    (its revert setting only hides the button): that would rewrite a case or an identity
    around the services and the audit trail. Only reading is allowed here.
    """

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)


def run_service_on_each(modeladmin, request, queryset, service, done: str) -> None:
    """Admin actions stay thin: call one service per row, show its domain error as a message."""
    succeeded = 0
    for obj in queryset:
        try:
            # Durable: an entry point, never nested in a request-wide transaction that could
            # roll back a recorded failure.
            with transaction.atomic(durable=True):
                service(obj, request.user)
            succeeded += 1
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)
