from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Authenticator, ChannelOfRecord, DirectorySession, Identity, ManagedDevice


class ChannelInline(admin.TabularInline):
    model = ChannelOfRecord
    extra = 0


class AuthenticatorInline(admin.TabularInline):
    """Shows that an authenticator exists; its key is never part of any form or page."""

    model = Authenticator
    fields = ("kind", "label", "bound_at", "revoked_at")
    readonly_fields = ("bound_at", "revoked_at")
    extra = 0
    can_delete = False


@admin.register(Identity)
class IdentityAdmin(SimpleHistoryAdmin):
    list_display = ("username", "display_name", "risk_tier", "account_state", "manager")
    list_filter = ("risk_tier", "account_state")
    search_fields = ("username", "display_name", "employee_id")
    list_select_related = ("manager",)
    raw_id_fields = ("manager", "owner", "staff_user")
    inlines = [ChannelInline, AuthenticatorInline]


@admin.register(ManagedDevice)
class ManagedDeviceAdmin(SimpleHistoryAdmin):
    list_display = ("device_id", "owner", "managed", "compliant")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)


@admin.register(DirectorySession)
class DirectorySessionAdmin(SimpleHistoryAdmin):
    list_display = ("identity", "client", "started_at", "revoked_at")
    list_select_related = ("identity",)
    raw_id_fields = ("identity",)
