from django.contrib import admin, messages

from recovery_desk.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: staff may look, never add, edit or delete here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def run_service_on_each(modeladmin, request, queryset, service, done: str) -> None:
    """Admin actions stay thin: call one service per row, show its domain error as a message."""
    succeeded = 0
    for obj in queryset:
        try:
            service(obj, request.user)
            succeeded += 1
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)
