"""The policy form in the staff admin (issue #13): durations in words, methods as checkboxes,
refusals in words, and no input that answers a 500."""

from datetime import timedelta

import pytest

from cases.admin_forms import DURATION_HINT, parse_duration_words
from cases.models import PolicyRule
from cases.states import Kind
from tests.test_admin import _post_policy_edit, _signed_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4 hours", timedelta(hours=4)),
        ("2 days", timedelta(days=2)),
        ("90 minutes", timedelta(minutes=90)),
        ("1 day 12 hours", timedelta(hours=36)),
        ("1 day, 12 hours", timedelta(hours=36)),
        ("1 day and 12 hours", timedelta(hours=36)),
        ("1h30m", timedelta(minutes=90)),
        ("1 week", timedelta(days=7)),
        ("  4 Hours ", timedelta(hours=4)),
        ("none", timedelta(0)),
        ("0", timedelta(0)),
        ("04:00:00", timedelta(hours=4)),
        ("1 day, 12:00:00", timedelta(hours=36)),
        ("1 12:00:00", timedelta(hours=36)),
    ],
)
def test_a_duration_is_read_in_words_or_as_hh_mm_ss(text, expected):
    assert parse_duration_words(text) == expected


@pytest.mark.parametrize(
    "text", ["4", "soon", "4 parsecs", "about 4 hours", "4 hours later", "12:xx", "1" * 70]
)
def test_a_duration_that_is_not_one_is_refused_with_a_sentence(text):
    with pytest.raises(ValueError) as refused:
        parse_duration_words(text)
    assert str(refused.value)[:1].isupper()


def _change_page(client, rule) -> str:
    response = client.get(f"/admin/cases/policyrule/{rule.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_form_shows_durations_in_words_with_a_hint_and_methods_as_checkboxes(
    client, admin_user
):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.MFA_REBIND, risk_tier="privileged")
    page = _change_page(client, rule)
    assert 'name="cooling_off" value="1 day"' in page
    assert 'name="pass_lifetime" value="10 minutes"' in page
    assert "4:00:00" not in page and "1 day, 0:00:00" not in page
    assert DURATION_HINT in page
    assert 'type="checkbox" name="allowed_methods" value="totp"' in page
    assert "knowledge_questions" not in page
    assert "Cooling-off period" in page  # the fields' labels are the refusals' words


def test_a_readable_duration_and_a_ticked_method_are_saved_as_a_new_version(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    response = _post_policy_edit(
        client, rule, cooling_off="1 day 12 hours", allowed_methods=["totp"]
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule.refresh_from_db()
    assert (rule.cooling_off, rule.allowed_methods, rule.version) == (
        timedelta(hours=36),
        ["totp"],
        3,  # version 2: migration 0009
    )
    assert 'value="1 day 12 hours"' in _change_page(client, rule)


def test_a_bad_duration_is_a_field_error_and_changes_nothing(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    response = _post_policy_edit(client, rule, cooling_off="soon")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["cooling_off"]
    assert "Write a duration such as" in errors["cooling_off"][0]
    rule.refresh_from_db()
    assert (rule.cooling_off, rule.version) == (timedelta(hours=4), 2)  # as migration 0009 left it


def test_a_bare_number_asks_for_its_unit(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    response = _post_policy_edit(client, rule, recovery_gap="4")
    assert response.status_code == 200
    assert "Say the unit" in response.context["adminform"].form.errors["recovery_gap"][0]


def test_a_deeply_nested_json_is_a_message_not_a_500(client, admin_user):
    """The issue's 500: a nested JSON in the methods field. Methods are ticked now; whatever
    is posted there is only compared with the list of choices."""
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="standard")
    nested = "[" * 50_000 + "]" * 50_000
    response = _post_policy_edit(client, rule, allowed_methods=nested)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Tick evidence methods from the list shown." in page
    assert nested not in page  # the input is not echoed back
    rule.refresh_from_db()
    assert (rule.allowed_methods, rule.version) == (
        ["totp", "recovery_codes", "in_person", "callback"],
        2,  # as migration 0009 left it
    )


def test_no_method_ticked_is_refused(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="standard")
    response = _post_policy_edit(client, rule, allowed_methods=[])
    assert response.status_code == 200
    assert "Tick at least one evidence method." in response.content.decode()


def test_a_monotonicity_refusal_names_the_tiers_and_durations_in_words(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="privileged")
    response = _post_policy_edit(client, rule, cooling_off="30 minutes")
    assert response.status_code == 200
    assert (
        "Password reset: the Privileged tier would be easier than the Contractor tier: "
        "its cooling-off period is shorter (30 minutes against 1 hour)."
    ) in response.content.decode()
    rule.refresh_from_db()
    assert (rule.cooling_off, rule.version) == (timedelta(hours=4), 2)  # as migration 0009 left it


def test_the_change_page_links_to_the_rules_history(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="standard")
    page = _change_page(client, rule)
    assert f'href="/admin/desk/policy/{rule.pk}/history/"' in page
    assert rule.version == 2  # migration 0009
    assert f'href="/admin/desk/policy/{rule.pk}/v2/"' in page
