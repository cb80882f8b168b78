import re

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from recovery_desk.errors import DomainError

ROW_ID = re.compile(r"[0-9]{1,18}")


def is_row_id(value: str) -> bool:
    """ASCII digits within a 64-bit id (str.isdigit() also takes "²" and "٣")."""
    return ROW_ID.fullmatch(value) is not None


def require_row_ids(*values) -> None:
    """Every row here has an integer id: anything else in a URL is a page that does not exist
    (a 404), not a crash deep in a library view (a 500).
    """
    if not all(is_row_id(unquote(str(value))) for value in values):
        raise Http404("There is no such record.")


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

    def history_view(self, request, object_id, extra_context=None):
        require_row_ids(object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only.")
        require_row_ids(object_id, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class ServiceActionsAdmin(admin.ModelAdmin):
    """Admin actions that run services act on exactly the rows ticked, never more: "select
    all N matching" (``select_across``) is refused, and a selection that is not a list of row
    ids (a forged or mangled form) is turned away with a message instead of failing in the
    query.
    """

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if request.POST.get("select_across", "0") != "0":
            self.message_user(
                request,
                "Tick the rows to act on: an action here never runs on every matching row.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        if not selected or not all(is_row_id(value) for value in selected):
            self.message_user(request, "Select rows from the list.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


def run_service_on_each(modeladmin, request, queryset, service, done: str) -> None:
    """Admin actions stay thin: call one service per row, show its domain error as a message."""
    succeeded = []
    for obj in queryset:
        try:
            # Durable: an entry point, never nested in a request-wide transaction that could
            # roll back a recorded failure.
            with transaction.atomic(durable=True):
                service(obj, request.user)
            succeeded.append(getattr(obj, "reference", str(obj)))
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if succeeded:
        modeladmin.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)
