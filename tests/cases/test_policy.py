from datetime import timedelta

import pytest

from audit.models import AuditEvent
from cases.errors import CaseError
from cases.models import PolicyRule
from cases.policy import policy_violations
from cases.policy_services import policy_rule_update
from cases.states import Kind
from directory.models import TIER_ORDER


@pytest.mark.django_db
def test_shipped_policy_covers_every_kind_and_tier():
    pairs = set(PolicyRule.objects.values_list("kind", "risk_tier"))
    assert pairs == {(kind, tier) for kind in Kind.values for tier in TIER_ORDER}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", Kind.values)
def test_a_higher_tier_never_requires_less_than_a_lower_one(kind):
    assert policy_violations(PolicyRule.objects.filter(kind=kind)) == []


@pytest.mark.django_db
def test_the_check_names_each_way_a_riskier_tier_got_easier():
    rules = list(PolicyRule.objects.filter(kind=Kind.MFA_REBIND))
    privileged = next(r for r in rules if r.risk_tier == "privileged")
    privileged.approvals_required = 0
    privileged.pass_lifetime = timedelta(hours=2)
    assert policy_violations(rules) == [
        "MFA re-bind: the Privileged tier would be easier than the Contractor tier: "
        "its number of approvals required is lower (0 against 1).",
        "MFA re-bind: the Privileged tier would be easier than the Contractor tier: "
        "its recovery pass lifetime is longer (2 hours against 10 minutes).",
    ]


@pytest.mark.django_db
def test_an_edit_that_makes_a_riskier_tier_easier_is_refused_and_changes_nothing(admin_user):
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="privileged")
    events = AuditEvent.objects.count()
    with pytest.raises(CaseError) as refused:
        policy_rule_update(rule=rule, actor=admin_user, changes={"approvals_required": 0})
    assert refused.value.code == "policy_refused"
    rule.refresh_from_db()
    assert (rule.approvals_required, rule.version) == (2, 2)  # version 2: migration 0009
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_an_edit_is_a_new_version_with_one_audit_event_and_a_history_row(admin_user):
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    before = rule.history.count()
    policy_rule_update(rule=rule, actor=admin_user, changes={"approvals_required": 3})
    rule.refresh_from_db()
    assert (rule.approvals_required, rule.version) == (3, 3)  # 0009 made version 2
    assert rule.history.count() == before + 1
    event = AuditEvent.objects.get(actor=admin_user)
    assert event.action == "policy.update"
    assert event.detail["new"] == {"approvals_required": "3"}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["knowledge_questions", "carrier_pigeon"])
def test_a_policy_may_only_allow_methods_the_system_checks(admin_user, method):
    rule = PolicyRule.objects.get(kind=Kind.REACTIVATION, risk_tier="standard")
    with pytest.raises(CaseError) as refused:
        policy_rule_update(rule=rule, actor=admin_user, changes={"allowed_methods": [method]})
    assert f"'{method}' is not an evidence method the system checks" in refused.value.message
    rule.refresh_from_db()
    assert rule.allowed_methods == ["totp", "recovery_codes", "in_person", "callback"]


@pytest.mark.django_db
def test_a_standard_reactivation_needs_a_managers_approval():
    """An account is usually disabled on purpose: one agent alone never switches it back on."""
    rule = PolicyRule.objects.get(kind=Kind.REACTIVATION, risk_tier="standard")
    assert (rule.approvals_required, rule.approver_role) == (1, "manager")
    assert rule.history.latest("history_id").version == rule.version


@pytest.mark.django_db
def test_failure_limits_are_policy_and_a_riskier_tier_never_gets_more_room():
    rules = list(PolicyRule.objects.filter(kind=Kind.PASSWORD_RESET))
    assert {(r.max_failures, r.failure_window, r.code_max_tries) for r in rules} == {
        (3, timedelta(hours=24), 3)  # the values the settings held before (migration 0006)
    }
    privileged = next(r for r in rules if r.risk_tier == "privileged")
    privileged.max_failures = 10
    privileged.failure_window = timedelta(hours=1)
    privileged.code_max_tries = 9
    easier = "Password reset: the Privileged tier would be easier than the Contractor tier: "
    assert policy_violations(rules) == [
        easier + "its failure window is shorter (1 hour against 1 day).",
        easier + "its limit of failed checks is higher (10 against 3).",
        easier + "its limit of tries per one-time code is higher (9 against 3).",
    ]


@pytest.mark.django_db
def test_a_refusal_names_the_kind_the_tiers_and_the_field_in_words():
    """Issue #13: one sentence per problem, tiers and fields by name, durations in words."""
    rules = list(PolicyRule.objects.filter(kind=Kind.PASSWORD_RESET))
    by_tier = {rule.risk_tier: rule for rule in rules}
    by_tier["standard"].allowed_methods = []
    by_tier["privileged"].cooling_off = timedelta(minutes=30)
    by_tier["privileged"].approver_role = "security_reviewer"
    by_tier["service"].approver_role = "manager"
    by_tier["service"].device_binding_required = False
    assert policy_violations(rules) == [
        "Password reset: the Contractor tier would be easier than the Standard tier: "
        "it accepts evidence the Standard tier does not "
        "(Code read from an enrolled TOTP authenticator, Saved recovery code, "
        "In-person document check, Call back to a phone number of record).",
        "Password reset: the Privileged tier would be easier than the Contractor tier: "
        "its cooling-off period is shorter (30 minutes against 1 hour).",
        "Password reset: the Service tier would be easier than the Privileged tier: "
        "its approver role is more junior (Manager against Security reviewer).",
        "Password reset: the Service tier would be easier than the Privileged tier: "
        "it drops the device binding the Privileged tier requires.",
    ]


@pytest.mark.django_db
def test_a_refused_edit_says_why_in_words(admin_user):
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="privileged")
    with pytest.raises(CaseError) as refused:
        policy_rule_update(
            rule=rule, actor=admin_user, changes={"cooling_off": timedelta(minutes=90) / 3}
        )
    assert refused.value.message == (
        "Policy edit refused. Password reset: the Privileged tier would be easier than the "
        "Contractor tier: its cooling-off period is shorter (30 minutes against 1 hour)."
    )


@pytest.mark.django_db
def test_an_edit_records_who_made_the_version_in_its_history(admin_user):
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    policy_rule_update(rule=rule, actor=admin_user, changes={"approvals_required": 3})
    assert rule.history.latest("history_id").history_user == admin_user


# The shipped policies after migration 0009 (docs/design.md "Evidence"): a riskier tier's
# methods are a subset of the tier below's.
SHIPPED_METHODS = {
    "standard": ["totp", "recovery_codes", "in_person", "callback"],
    "contractor": ["totp", "recovery_codes", "in_person", "callback"],
    "privileged": ["totp", "recovery_codes", "in_person"],
    "service": ["totp", "in_person"],
}


@pytest.mark.django_db
def test_migration_0009_allows_the_new_methods_as_a_new_version_with_history_and_an_event():
    events = {
        e.detail["policy"]: e
        for e in AuditEvent.objects.filter(
            action="policy.update", detail__by="migration cases.0009"
        )
    }
    rules = list(PolicyRule.objects.all())
    assert len(events) == len(rules)
    for rule in rules:
        assert rule.allowed_methods == SHIPPED_METHODS[rule.risk_tier]
        # Version 1 as shipped; 0005 moved a standard reactivation to 2.
        shipped = 2 if (rule.kind, rule.risk_tier) == (Kind.REACTIVATION, "standard") else 1
        assert rule.version == shipped + 1
        latest = rule.history.latest("history_id")
        assert (latest.version, latest.allowed_methods) == (rule.version, rule.allowed_methods)
        assert latest.history_type == "~" and latest.updated_at == rule.updated_at
        before = rule.history.get(version=shipped)
        assert before.allowed_methods == ["totp"]
        event = events[f"{rule.kind}/{rule.risk_tier}"]
        assert (event.actor_id, event.actor_kind, event.actor_label) == (None, "system", "system")
        assert event.detail["version"] == rule.version
        assert event.detail["old"] == {"allowed_methods": str(["totp"])}
        assert event.detail["new"] == {"allowed_methods": str(rule.allowed_methods)}


@pytest.mark.django_db
def test_migration_0009_leaves_a_kind_an_administrator_edited_alone():
    from django.apps import apps
    from django.db import transaction

    migration = __import__(
        "cases.migrations.0009_policies_allow_new_evidence_methods", fromlist=["forwards"]
    )
    PolicyRule.objects.update(allowed_methods=["totp"])  # as shipped
    edited = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    # An administrator's edit.
    PolicyRule.objects.filter(pk=edited.pk).update(allowed_methods=["totp", "in_person"])
    before = {r.pk: r.version for r in PolicyRule.objects.all()}
    events = AuditEvent.objects.count()
    with transaction.atomic():
        migration.forwards(apps, None)
    for rule in PolicyRule.objects.all():
        if rule.kind == Kind.PASSWORD_RESET:  # the whole kind: its tiers stay comparable
            assert rule.version == before[rule.pk]
            edit = ["totp", "in_person"] if rule.pk == edited.pk else ["totp"]
            assert rule.allowed_methods == edit
        else:
            assert rule.version == before[rule.pk] + 1
            assert rule.allowed_methods == SHIPPED_METHODS[rule.risk_tier]
    changed = PolicyRule.objects.exclude(kind=Kind.PASSWORD_RESET).count()
    assert AuditEvent.objects.count() == events + changed
