"""The directory, read-only: identities change through the connector and audited services,
never by hand in the admin (a lowered risk tier or an added channel is an attack path).
"""

from django.contrib import admin

from recovery_desk.admin_tools import BoundedListAdmin, HistoryAdmin, Prefix, ReadOnlyAdmin

from .models import Authenticator, ChannelOfRecord, DirectorySession, Identity, ManagedDevice


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class ChannelInline(ReadOnlyInline):
    model = ChannelOfRecord
    fields = ("kind", "address", "verified_at", "added_at")


class AuthenticatorInline(ReadOnlyInline):
    """Shows that an authenticator exists; its key is never part of any form or page."""

    model = Authenticator
    fields = ("kind", "label", "bound_at", "revoked_at")


@admin.register(Identity)
class IdentityAdmin(BoundedListAdmin, ReadOnlyAdmin, HistoryAdmin):
    list_display = ("username", "display_name", "risk_tier", "account_state", "manager")
    list_filter = ("risk_tier", "account_state")
    list_select_related = ("manager",)
    ordering = ("username",)  # the unique index
    search_fields = ("username", "employee_id", "display_name")
    # Each prefix-indexed (directory migration 0002).
    search_by = (Prefix("username"), Prefix("employee_id"), Prefix("display_name"))
    search_help_text = "The start of a username, an employee id or a name; up to 5 words."
    exclude = ("password_hash",)
    inlines = [ChannelInline, AuthenticatorInline]


@admin.register(ManagedDevice)
class ManagedDeviceAdmin(BoundedListAdmin, ReadOnlyAdmin, HistoryAdmin):
    list_display = ("device_id", "owner", "managed", "compliant")
    list_select_related = ("owner",)


@admin.register(DirectorySession)
class DirectorySessionAdmin(BoundedListAdmin, ReadOnlyAdmin, HistoryAdmin):
    list_display = ("identity", "client", "started_at", "revoked_at")
    list_select_related = ("identity",)
