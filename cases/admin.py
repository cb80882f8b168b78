from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdmin

from recovery_desk.admin_tools import (
    BoundedListAdmin,
    CaseReference,
    HistoryAdmin,
    Prefix,
    ReadOnlyAdmin,
    ServiceActionsAdmin,
    Subjects,
    require_row_ids,
    run_service_on_each,
)

from . import services
from .admin_forms import POLICY_SECTIONS, PolicyRuleForm
from .models import PolicyRule, Queue, RecoveryCase
from .policy import duration_words, kind_label, tier_label
from .policy_services import policy_rule_update


@admin.register(Queue)
class QueueAdmin(BoundedListAdmin, GuardedModelAdmin):  # type: ignore[misc]
    """Per-queue roles are granted here (object permissions)."""

    list_display = ("name", "kind")

    def has_add_permission(self, request):
        return False  # one queue per kind, shipped by migration

    def has_delete_permission(self, request, obj=None):
        return False

    def render_change_form(self, request, context, *args, **kwargs):
        """Only people who may grant roles see guardian's "Object permissions" button: for
        anyone else it would lead to a 403."""
        response = super().render_change_form(request, context, *args, **kwargs)
        if not self.has_change_permission(request, None):
            opts = self.model._meta
            response.template_name = [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        return response

    def _ensure_may_grant(self, request) -> None:
        """A clear 403 for people who may not grant roles (guardian would redirect them)."""
        if not self.has_change_permission(request, None):
            raise PermissionDenied("Only an administrator grants queue roles.")

    def obj_perms_manage_view(self, request, object_pk):
        require_row_ids(object_pk)
        self._ensure_may_grant(request)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        require_row_ids(object_pk, user_id)
        self._ensure_may_grant(request)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        require_row_ids(object_pk, group_id)
        self._ensure_may_grant(request)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)


@admin.register(PolicyRule)
class PolicyRuleAdmin(BoundedListAdmin, HistoryAdmin):
    """Policy edits: durations in words, methods as checkboxes, every edit a new version whose
    history and differences the desk's policy pages show (desk/views/policy.py)."""

    form = PolicyRuleForm
    list_display = (
        "kind",
        "risk_tier",
        "version_link",
        "approvals_required",
        "approver_role",
        "cooling_off_words",
        "recovery_gap_words",
    )
    list_filter = ("kind", "risk_tier")
    ordering = ("kind", "id")
    readonly_fields = ("kind", "risk_tier", "version", "updated_at", "versions")
    fieldsets = (
        (None, {"fields": ("kind", "risk_tier", "version", "updated_at", "versions")}),
        *((title, {"fields": names}) for title, names in POLICY_SECTIONS),
    )

    def has_add_permission(self, request):
        return False  # one row per (kind, tier), shipped by migration

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Version", ordering="version")
    def version_link(self, rule):
        url = reverse("admin:desk:policy_version", args=[rule.pk, rule.version])
        return format_html('<a href="{}">v{}</a>', url, rule.version)

    @admin.display(description="Cooling-off period", ordering="cooling_off")
    def cooling_off_words(self, rule):
        return duration_words(rule.cooling_off)

    @admin.display(description="Recovery gap", ordering="recovery_gap")
    def recovery_gap_words(self, rule):
        return duration_words(rule.recovery_gap)

    @admin.display(description="Versions")
    def versions(self, rule):
        if rule.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Every version of this rule and what changed</a>'
            ' (this is <a href="{}">v{}</a>)',
            reverse("admin:desk:policy_history", args=[rule.pk]),
            reverse("admin:desk:policy_version", args=[rule.pk, rule.version]),
            rule.version,
        )

    def save_model(self, request, obj, form, change):
        policy_rule_update(
            rule=obj,
            actor=request.user,
            changes={name: form.cleaned_data[name] for name in form.changed_data},
        )


@admin.register(RecoveryCase)
class RecoveryCaseAdmin(BoundedListAdmin, ServiceActionsAdmin, ReadOnlyAdmin, HistoryAdmin):
    list_display = (
        "reference",
        "kind",
        "state",
        "subject",
        "risk_tier",
        "assigned_agent",
        "opened_at",
        "expires_at",
    )
    # The reference links to the desk's case page; no second link to this read-only form.
    list_display_links = None
    list_filter = ("queue", "state", "kind", "risk_tier")
    list_select_related = ("subject", "assigned_agent")
    # Newest first by the primary key: ordering a million cases by opened_at has no index.
    ordering = ("-pk",)
    search_fields = ("id", "external_ticket", "subject__username", "subject__employee_id")
    search_by = (CaseReference("pk"), Prefix("external_ticket"), Subjects("subject_id"))
    search_help_text = (
        "A case reference (RC-000123), a ticket id, or the start of a subject's username or "
        "employee id; up to 5 words."
    )
    # The pinned policy shows as a link to the version it was opened under, never as the
    # policy row as it is today.
    exclude = ("policy_snapshot", "policy_rule", "policy_version")
    readonly_fields = ("pinned_policy",)
    # Holds end by themselves (the sweep); nobody ends one by hand.
    actions = ["claim", "verify", "execute"]

    @admin.display(description="Reference", ordering="pk")
    def reference(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:desk:case", args=[obj.pk]), obj.reference
        )

    @admin.display(description="Pinned policy")
    def pinned_policy(self, obj):
        """The rule and version the case was opened under, linked to that version as it was."""
        label = f"{kind_label(obj.kind)}, {tier_label(obj.risk_tier)} tier, v{obj.policy_version}"
        url = reverse("admin:desk:policy_version", args=[obj.policy_rule_id, obj.policy_version])
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.action(description="Claim the selected cases")
    def claim(self, request, queryset):
        run_service_on_each(
            self, request, queryset, lambda c, u: services.case_claim(case=c, agent=u), "Claimed"
        )

    @admin.action(description="Close verification (evidence meets the policy)")
    def verify(self, request, queryset):
        run_service_on_each(
            self, request, queryset, lambda c, u: services.case_verify(case=c, actor=u), "Verified"
        )

    @admin.action(description="Execute the recovery")
    def execute(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            lambda c, u: services.case_execute(case=c, actor=u),
            "Sent to the directory",
        )
