"""Password guessing at the staff sign-in: counted per account and per client address, never
wiped by someone else's success, and never by the proxy's address for everyone."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.cases.factories import make_agent, make_manager

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def _staff(make, username):
    user = make(username=username)
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _attempt(client, user, password, code="", **headers):
    data = {"username": user.username, "password": password, "otp_token": code}
    return client.post(LOGIN, data, **headers)


def test_a_colleagues_sign_in_from_the_same_address_does_not_wipe_the_guesses(
    client, settings, clock
):
    target, target_device = _staff(make_manager, "guessed.manager")
    colleague, colleague_device = _staff(make_agent, "busy.agent")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _attempt(client, target, "guess")
        assert _attempt(client, colleague, PASSWORD, _code(colleague_device)).status_code == 302
        client.logout()
        clock.shift(timedelta(seconds=colleague_device.step))  # a code counts once
    _attempt(client, target, "guess")  # the limit, counted across the colleague's sign-ins

    assert _attempt(client, target, PASSWORD, _code(target_device)).status_code == 429


def test_behind_the_proxy_one_clients_guesses_lock_that_client_not_everyone(client, settings):
    settings.BEHIND_TLS_PROXY = True
    guesser, _ = _staff(make_agent, "guessing.agent")
    colleague, colleague_device = _staff(make_agent, "other.agent")
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The guesser also writes addresses of their own in front: only the proxy's entry counts.
        forwarded = f"198.51.100.{n}, 203.0.113.9"
        _attempt(client, guesser, f"guess {n}", HTTP_X_FORWARDED_FOR=forwarded, **proxy)

    from_colleague = {"HTTP_X_FORWARDED_FOR": "203.0.113.50", **proxy}
    response = _attempt(client, colleague, PASSWORD, _code(colleague_device), **from_colleague)
    assert response.status_code == 302
    client.logout()
    response = _attempt(client, colleague, "x", HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert response.status_code == 429  # the guesser's own address is locked


def test_a_failed_sign_in_does_not_store_the_one_time_code(client):
    user, device = _staff(make_agent, "mistyped.agent")
    code = _code(device)
    _attempt(client, user, "wrong password", code)
    stored = " ".join(str(a.post_data) for a in AccessAttempt.objects.all())
    assert stored and code not in stored


def test_a_newcomers_password_guesses_lock_them_out_before_enrolment(client, settings):
    """No authenticator yet: the password alone opens enrolment, so guessing it is locked out
    like anyone's, and the lock holds for the right password too."""
    newcomer = make_agent(username="new.agent")
    for n in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, newcomer, f"guess {n}")

    response = _attempt(client, newcomer, PASSWORD)

    assert response.status_code == 429
    assert client.get("/admin/enrol/")["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.filter(user=newcomer).exists()


def test_a_newcomer_signs_in_with_the_password_alone_and_is_sent_to_enrolment(client):
    newcomer = make_agent(username="new.agent")
    response = _attempt(client, newcomer, PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/admin/enrol/")
    assert AccessAttempt.objects.filter(username=newcomer.username).count() == 0
