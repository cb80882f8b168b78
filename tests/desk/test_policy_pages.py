"""Policy versions as they were, and what changed between them (issue #13): a case links to the
version it is pinned to; each rule's history shows every version, its changes, who and when."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission

from cases.models import PolicyRule
from cases.policy_services import policy_rule_update
from cases.states import Kind
from tests.cases.builders import open_case
from tests.cases.factories import UserFactory
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    """The page's words, tags dropped and spaces collapsed, to assert on sentences."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def edited_rule(admin_user):
    """Service MFA re-bind: version 1 as shipped, version 2 with migration 0009's methods,
    version 3 with a longer hold and gap."""
    rule = PolicyRule.objects.get(kind=Kind.MFA_REBIND, risk_tier="service")
    return policy_rule_update(
        rule=rule,
        actor=admin_user,
        changes={"cooling_off": timedelta(days=2), "recovery_gap": timedelta(days=60)},
    )


def test_an_old_version_shows_its_old_values_after_an_edit(client, admin_user, edited_rule):
    _signed_in(client, admin_user)
    response = client.get(f"/admin/desk/policy/{edited_rule.pk}/v1/")
    assert response.status_code == 200
    text = _text(response)
    assert "MFA re-bind, Service tier: version 1" in text
    assert "Cooling-off period 1 day" in text  # as it was, not the 2 days in force now
    assert "2 days" not in text
    assert "This is not the version in force" in text
    assert "The first version of this rule" in text
    assert edited_rule.version == 3
    assert f'href="/admin/desk/policy/{edited_rule.pk}/v3/"' in response.content.decode()


def test_a_version_shows_what_changed_from_the_one_before(client, admin_user, edited_rule):
    _signed_in(client, admin_user)
    response = client.get(f"/admin/desk/policy/{edited_rule.pk}/v3/")
    assert response.status_code == 200
    text = _text(response)
    assert "What changed from version 2" in text
    assert "Cooling-off period 1 day 2 days" in text
    assert "Recovery gap" in text
    assert "This is the version in force" in text
    assert f"by {admin_user.username}" in text
    assert response.context["changes"] == [
        change for change in response.context["changes"] if change.old != change.new
    ]
    assert [c.label for c in response.context["changes"]] == ["Cooling-off period", "Recovery gap"]


def test_the_history_lists_every_version_with_its_changes_who_and_when(
    client, admin_user, edited_rule
):
    policy_rule_update(rule=edited_rule, actor=admin_user, changes={"max_failures": 2})
    _signed_in(client, admin_user)
    response = client.get(f"/admin/desk/policy/{edited_rule.pk}/history/")
    assert response.status_code == 200
    text = _text(response)
    assert (
        text.index("Version 4")
        < text.index("Version 3")
        < text.index("Version 2")
        < text.index("Version 1")
    )
    assert "Limit of failed checks 3 2" in text
    assert "Cooling-off period 1 day 2 days" in text
    assert "The first version of this rule." in text
    assert text.count(f"by {admin_user.username}") == 2


def test_a_case_links_to_the_policy_version_it_is_pinned_to(client, admin_user, agent):
    # Password reset, service tier, version 2 (migration 0009's).
    case = open_case(opener=agent, tier="service")
    policy_rule_update(
        rule=case.policy_rule, actor=admin_user, changes={"cooling_off": timedelta(hours=6)}
    )
    _signed_in(client, admin_user)
    page = client.get(f"/admin/cases/recoverycase/{case.pk}/change/").content.decode()
    version_page = f"/admin/desk/policy/{case.policy_rule_id}/v2/"
    assert f'<a href="{version_page}">Password reset, Service tier, v2</a>' in page
    response = client.get(version_page)
    assert "Cooling-off period 4 hours" in _text(response)  # as pinned, not the 6 hours now


def test_every_shipped_rule_has_its_first_version_in_the_history(client, admin_user):
    """Migration 0008 recorded the versions shipped without a history row; 0005's rule gets
    its version 1 back (no approval), so its history shows what 0005 changed."""
    for rule in PolicyRule.objects.all():
        assert rule.history.filter(version=1).exists(), rule
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.REACTIVATION, risk_tier="standard")
    text = _text(client.get(f"/admin/desk/policy/{rule.pk}/v2/"))
    assert "Number of approvals required 0 1" in text


def test_the_case_list_links_each_reference_to_the_desk_case_page(client, admin_user, agent):
    case = open_case(opener=agent)
    _signed_in(client, admin_user)
    page = client.get("/admin/cases/recoverycase/").content.decode()
    assert f'<a href="/admin/desk/cases/{case.pk}/">{case.reference}</a>' in page


def test_a_version_missing_from_history_is_shown_from_a_pinned_case(client, admin_user, agent):
    case = open_case(opener=agent, tier="service")
    rule = policy_rule_update(
        rule=case.policy_rule, actor=admin_user, changes={"cooling_off": timedelta(hours=6)}
    )
    assert case.policy_version == 2  # migration 0009's
    rule.history.filter(version=2).delete()
    _signed_in(client, admin_user)
    response = client.get(f"/admin/desk/policy/{rule.pk}/v2/")
    assert response.status_code == 200
    assert f"shown from the copy pinned by case {case.reference}" in _text(response)


def test_a_version_that_never_existed_is_not_found(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.first()
    assert client.get(f"/admin/desk/policy/{rule.pk}/v99/").status_code == 404
    assert client.get("/admin/desk/policy/999999/v1/").status_code == 404
    assert client.get("/admin/desk/policy/999999/history/").status_code == 404


@pytest.mark.parametrize("role", ["agent", "manager", "security_reviewer"])
def test_anyone_with_a_queue_role_reads_the_policy_pages(client, request, role):
    user = request.getfixturevalue(role)
    _signed_in(client, user)
    rule = PolicyRule.objects.first()
    assert client.get(f"/admin/desk/policy/{rule.pk}/v1/").status_code == 200
    assert client.get(f"/admin/desk/policy/{rule.pk}/history/").status_code == 200


def test_staff_who_may_read_the_policy_table_read_the_policy_pages(client):
    user = UserFactory(username="policy.reader")
    user.user_permissions.add(Permission.objects.get(codename="view_policyrule"))
    _signed_in(client, user)
    rule = PolicyRule.objects.first()
    assert client.get(f"/admin/desk/policy/{rule.pk}/history/").status_code == 200


def test_staff_without_a_role_or_the_policy_table_get_a_403_with_a_sentence(client):
    _signed_in(client, UserFactory(username="no.role"))
    rule = PolicyRule.objects.first()
    for url in (f"/admin/desk/policy/{rule.pk}/v1/", f"/admin/desk/policy/{rule.pk}/history/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "hold a role on a queue can see policy versions" in response.content.decode()
