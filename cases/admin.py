import copy

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from guardian.admin import GuardedModelAdmin

from recovery_desk.admin_tools import (
    HistoryAdmin,
    ReadOnlyAdmin,
    ServiceActionsAdmin,
    require_row_ids,
    run_service_on_each,
)

from . import services
from .models import PolicyRule, Queue, RecoveryCase
from .policy import policy_violations
from .policy_services import policy_rule_update


@admin.register(Queue)
class QueueAdmin(GuardedModelAdmin):
    """Per-queue roles are granted here (object permissions)."""

    list_display = ("name", "kind")

    def has_add_permission(self, request):
        return False  # one queue per kind, shipped by migration

    def has_delete_permission(self, request, obj=None):
        return False

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


class PolicyRuleForm(forms.ModelForm):
    class Meta:
        model = PolicyRule
        fields = (
            "min_evidence_score",
            "min_independent_methods",
            "allowed_methods",
            "approvals_required",
            "approver_role",
            "cooling_off",
            "pass_lifetime",
            "device_binding_required",
            "claim_deadline",
            "verify_deadline",
            "approval_deadline",
            "ready_deadline",
            "recovery_gap",
            "max_failures",
            "failure_window",
            "code_max_tries",
        )

    def clean(self):
        cleaned = super().clean()
        edited = copy.copy(self.instance)  # the instance gets the form's values only after clean()
        for name, value in cleaned.items():
            setattr(edited, name, value)
        others = PolicyRule.objects.filter(kind=edited.kind).exclude(pk=edited.pk)
        problems = policy_violations([*others, edited])
        if problems:
            raise forms.ValidationError(problems)
        return cleaned


@admin.register(PolicyRule)
class PolicyRuleAdmin(HistoryAdmin):
    form = PolicyRuleForm
    list_display = (
        "kind",
        "risk_tier",
        "version",
        "approvals_required",
        "approver_role",
        "cooling_off",
        "recovery_gap",
    )
    list_filter = ("kind", "risk_tier")
    readonly_fields = ("kind", "risk_tier", "version", "updated_at")

    def has_add_permission(self, request):
        return False  # one row per (kind, tier), shipped by migration

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        policy_rule_update(
            rule=obj,
            actor=request.user,
            changes={name: form.cleaned_data[name] for name in form.changed_data},
        )


@admin.register(RecoveryCase)
class RecoveryCaseAdmin(ServiceActionsAdmin, ReadOnlyAdmin, HistoryAdmin):
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
    list_filter = ("state", "kind", "risk_tier")
    list_select_related = ("subject", "assigned_agent")
    search_fields = ("subject__username", "external_ticket")
    show_full_result_count = False
    ordering = ("-opened_at",)
    exclude = ("policy_snapshot",)
    # Holds end by themselves (the sweep); nobody ends one by hand.
    actions = ["claim", "verify", "execute"]

    @admin.display(description="Reference", ordering="pk")
    def reference(self, obj):
        return obj.reference

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
