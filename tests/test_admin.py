"""The staff console: second factor required, secrets never rendered, lists in constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import PolicyRule, RecoveryCase
from cases.states import Kind
from tests.cases.builders import open_case
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import ready_case

pytestmark = pytest.mark.django_db


def _signed_in(client, user, *, second_factor=True):
    client.force_login(user)
    if second_factor:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def test_staff_without_a_second_factor_is_sent_to_enrolment_not_the_console(client, agent):
    """No authenticator yet: every admin page sends them to set one up."""
    _signed_in(client, agent, second_factor=False)
    response = client.get("/admin/cases/recoverycase/")
    assert response.status_code == 302
    assert response.url == "/admin/enrol/"


def test_case_list_runs_in_the_same_number_of_queries_for_few_and_many_cases(
    client, admin_user, agent
):
    _signed_in(client, admin_user)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/cases/recoverycase/").status_code == 200
        return len(ctx)

    for _ in range(3):
        open_case(opener=agent)
    few = queries_for_list()
    for _ in range(20):
        open_case(opener=agent)
    assert queries_for_list() == few


def test_no_page_shows_an_authenticator_key(client, admin_user):
    _signed_in(client, admin_user)
    subject = IdentityFactory()
    authenticator = AuthenticatorFactory(identity=subject)
    for url in (
        f"/admin/directory/identity/{subject.pk}/change/",
        f"/admin/directory/identity/{subject.pk}/history/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert authenticator.key not in response.content.decode()


def _post_policy_edit(client, rule, **changes):
    """Submit the policy's own change form, as shown, with ``changes`` applied."""
    url = f"/admin/cases/policyrule/{rule.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: "" if form[name].value() is None else form[name].value() for name in form.fields}
    return client.post(url, {**data, **changes})  # methods as ticked boxes, durations in words


def test_an_admin_edit_that_makes_a_riskier_tier_easier_is_refused(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="privileged")
    response = _post_policy_edit(client, rule, approvals_required=0)
    assert response.status_code == 200
    assert (
        "Password reset: the Privileged tier would be easier than the Contractor tier: "
        "its number of approvals required is lower (0 against 1)."
    ) in response.content.decode()
    rule.refresh_from_db()
    assert (rule.approvals_required, rule.version) == (2, 2)  # as migration 0009 left it


def test_an_admin_edit_is_saved_as_a_new_policy_version(client, admin_user):
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="service")
    response = _post_policy_edit(client, rule, approvals_required=3)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert (rule.approvals_required, rule.version) == (3, 3)  # 0009 made version 2


def test_history_pages_cannot_rewrite_a_case(client, agent):
    _signed_in(client, agent)
    case = open_case(opener=agent)
    version = case.history.latest("history_id")
    url = f"/admin/cases/recoverycase/{case.pk}/history/{version.history_id}/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"kind": "mfa_rebind", "failed_checks": 0, "expires_at": ""})
    assert response.status_code == 403
    case.refresh_from_db()
    assert (case.kind, case.history.count()) == ("password_reset", 1)


def test_history_pages_cannot_rewrite_an_identity(client, admin_user):
    _signed_in(client, admin_user)
    subject = IdentityFactory(risk_tier="privileged")
    version = subject.history.latest("history_id")
    url = f"/admin/directory/identity/{subject.pk}/history/{version.history_id}/"
    response = client.post(url, {"risk_tier": "standard", "username": subject.username})
    assert response.status_code == 403
    subject.refresh_from_db()
    assert subject.risk_tier == "privileged"


def test_the_directory_cannot_be_edited_in_the_admin(client, admin_user):
    _signed_in(client, admin_user)
    subject = IdentityFactory(risk_tier="privileged")
    url = f"/admin/directory/identity/{subject.pk}/change/"
    response = client.post(url, {"risk_tier": "standard", "username": subject.username})
    assert response.status_code == 403
    subject.refresh_from_db()
    assert subject.risk_tier == "privileged"


def test_no_page_shows_a_staff_authenticator_key(client, admin_user):
    _signed_in(client, admin_user)
    device = TOTPDevice.objects.get(user=admin_user)
    for url in (
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        "/admin/otp_totp/totpdevice/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert device.key not in response.content.decode()


def test_password_guessing_locks_the_staff_account(client, agent, settings):
    device = TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    login = "/admin/login/?next=/admin/"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(login, {"username": agent.username, "password": "guess", "otp_token": ""})
    from django_otp.oath import totp

    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    response = client.post(
        login,
        {"username": agent.username, "password": "correct horse battery staple", "otp_token": code},
    )
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("methods", ["5", "true", "[[1]]", '{"totp": 1}', '"totp"'])
def test_a_malformed_method_list_is_refused_with_a_message(client, admin_user, methods):
    """Methods are ticked from a list (issue #13): anything else is refused by the form."""
    _signed_in(client, admin_user)
    rule = PolicyRule.objects.get(kind=Kind.PASSWORD_RESET, risk_tier="standard")
    response = _post_policy_edit(client, rule, allowed_methods=methods)
    assert response.status_code == 200
    assert "Tick evidence methods from the list shown." in response.content.decode()
    rule.refresh_from_db()
    assert (rule.allowed_methods, rule.version) == (
        ["totp", "recovery_codes", "in_person", "callback"],
        2,  # as migration 0009 left it
    )


def test_malformed_ids_in_admin_urls_are_not_found(client, admin_user, agent):
    _signed_in(client, admin_user)
    case = open_case(opener=agent)
    version = case.history.latest("history_id").history_id
    queue = case.queue_id
    for url in (
        "/admin/cases/recoverycase/abc/history/",
        f"/admin/cases/recoverycase/{case.pk}/history/abc/",
        f"/admin/cases/recoverycase/abc/history/{version}/",
        "/admin/cases/policyrule/1/history/abc/",
        "/admin/directory/identity/abc/history/",
        "/admin/cases/queue/abc/permissions/",
        f"/admin/cases/queue/{queue}/permissions/user-manage/abc/",
        f"/admin/cases/queue/{queue}/permissions/group-manage/abc/",
        "/admin/cases/recoverycase/%C2%B2/history/",  # "²": a digit to str.isdigit()
        f"/admin/cases/recoverycase/{case.pk}/history/%C2%B2/",
        "/admin/cases/queue/%D9%A3/permissions/",  # "٣", an Arabic-Indic three
        "/admin/cases/recoverycase/99999999999999999999999/history/",
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("mangled", ["abc", "²", "99999999999999999999999"])
def test_an_action_on_a_mangled_selection_is_turned_away(client, admin_user, agent, mangled):
    _signed_in(client, admin_user)
    case = open_case(opener=agent)
    response = client.post(
        "/admin/cases/recoverycase/",
        {"action": "claim", "_selected_action": [mangled, str(case.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Select rows from the list." in response.content.decode()
    case.refresh_from_db()
    assert case.assigned_agent_id is None


def test_execute_in_the_admin_hands_the_case_to_the_directory_and_says_so(client, clock, agent):
    case = ready_case(agent=agent)
    _signed_in(client, agent)
    response = client.post(
        "/admin/cases/recoverycase/",
        {"action": "execute", "_selected_action": [str(case.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert f"Sent to the directory: {case.reference}." in response.content.decode()
    case.refresh_from_db()
    assert case.state == "executing"


def test_an_action_never_runs_on_every_matching_row(client, clock, agent):
    """Select-all-matching would act on cases nobody ticked: refused with a message."""
    first = open_case(opener=agent)
    open_case(opener=agent)
    _signed_in(client, agent)
    response = client.post(
        "/admin/cases/recoverycase/",
        {"action": "claim", "_selected_action": [str(first.pk)], "select_across": "1"},
        follow=True,
    )
    assert response.status_code == 200
    assert "never runs on every matching row" in response.content.decode()
    assert set(RecoveryCase.objects.values_list("state", flat=True)) == {"new"}
