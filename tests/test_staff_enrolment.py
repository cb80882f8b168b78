"""A staff member without an authenticator: password, then enrolment (QR code, first code), and
nothing else until the first code confirms the app. Someone with an app never sees enrolment."""

import logging
import re
from base64 import b32decode
from datetime import timedelta

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from recovery_desk import enrolment, enrolment_services
from tests.cases.factories import UserFactory, make_agent
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
ENROL = "/admin/enrol/"
PASSWORD = "correct horse battery staple"  # tests.cases.factories.UserFactory
KEY_ON_PAGE = re.compile(r'id="enrol-key"[^>]*>([A-Z2-7 ]+)<')


@pytest.fixture
def newcomer(db):
    """An agent who has never set up an authenticator app."""
    return make_agent(username="new.agent")


def _password_only(client, user, password=PASSWORD, code=""):
    return client.post(LOGIN, {"username": user.username, "password": password, "otp_token": code})


def _key_shown(response) -> bytes:
    """The key the enrolment page shows for typing by hand, as the app would store it."""
    found = KEY_ON_PAGE.search(response.content.decode())
    assert found, "the enrolment page shows no key"
    text = found.group(1).replace(" ", "")
    return b32decode(text + "=" * (-len(text) % 8))


def _code(key: bytes, drift: int = 0) -> str:
    return f"{totp(key, 30, 0, 6, drift):06d}"


def _wrong_code(key: bytes) -> str:
    accepted = {_code(key, d) for d in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in accepted)


def _enrolling(client, user):
    """Signed in by the password; the enrolment page as shown."""
    response = _password_only(client, user)
    assert (response.status_code, response.url) == (302, ENROL)
    page = client.get(ENROL)
    assert page.status_code == 200
    return page


def _verified_as(client, user) -> bool:
    device_id = client.session.get(DEVICE_ID_SESSION_KEY)
    return bool(device_id) and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def test_the_password_alone_leads_a_newcomer_to_the_qr_code(client, newcomer):
    page = _enrolling(client, newcomer)

    html = page.content.decode()
    assert "<svg" in html and 'role="img"' in html
    assert "Set up your authenticator app" in html
    assert page.headers["Cache-Control"].startswith("max-age=0")
    assert "no-store" in page.headers["Cache-Control"]
    device = TOTPDevice.objects.get(user=newcomer)
    assert not device.confirmed
    assert _key_shown(page) == device.bin_key


def test_before_the_first_code_every_admin_page_sends_them_back_to_enrolment(client, newcomer):
    _enrolling(client, newcomer)
    for url in (
        "/admin/",
        "/admin/cases/recoverycase/",
        "/admin/records/",
        "/admin/otp_totp/totpdevice/",
        "/admin/password_change/",
        "/admin/no/such/page/",
        "/admin/login/",
    ):
        response = client.get(url)
        assert (response.status_code, response.get("Location")) == (302, ENROL), url
    # A POST to an admin page does not get through either.
    response = client.post("/admin/cases/recoverycase/", {"action": "claim"})
    assert (response.status_code, response["Location"]) == (302, ENROL)


def test_a_wrong_first_code_is_refused_and_counted(client, newcomer):
    page = _enrolling(client, newcomer)

    wrong = _wrong_code(_key_shown(page))
    response = client.post(ENROL, {"otp_token": wrong})

    assert response.status_code == 200
    assert "That code is not right." in response.content.decode()
    assert f'value="{wrong}"' not in response.content.decode()  # an empty field for the next code
    device = TOTPDevice.objects.get(user=newcomer)
    assert (device.confirmed, device.throttling_failure_count) == (False, 1)
    assert _key_shown(response) == device.bin_key  # the same key: they can try again
    assert not _verified_as(client, newcomer)
    assert client.get("/admin/")["Location"] == ENROL


def test_a_malformed_code_is_refused_without_counting(client, newcomer):
    _enrolling(client, newcomer)
    for typed in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        response = client.post(ENROL, {"otp_token": typed})
        assert response.status_code == 200
    assert TOTPDevice.objects.get(user=newcomer).throttling_failure_count == 0


def test_the_right_first_code_confirms_the_app_and_opens_the_desk(client, newcomer):
    page = _enrolling(client, newcomer)
    session_before = client.session.session_key

    response = client.post(ENROL, {"otp_token": _code(_key_shown(page))})

    assert (response.status_code, response["Location"]) == (302, "/admin/")
    device = TOTPDevice.objects.get(user=newcomer)
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.session.session_key != session_before
    assert enrolment.SESSION_ISSUED not in client.session
    home = client.get("/admin/")
    assert home.status_code == 200
    assert "Your authenticator app is set up." in home.content.decode()
    assert client.get("/admin/cases/recoverycase/").status_code == 200
    # Enrolment is over: the page sends them to the desk and shows the key nowhere.
    assert client.get(ENROL)["Location"] == "/admin/"


def test_spaces_in_the_code_do_not_matter(client, newcomer):
    page = _enrolling(client, newcomer)
    code = _code(_key_shown(page))
    response = client.post(ENROL, {"otp_token": f" {code[:3]} {code[3:]} "})
    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=newcomer).confirmed


def test_the_first_code_then_counts_once_at_the_next_sign_in(client, newcomer, clock):
    page = _enrolling(client, newcomer)
    code = _code(_key_shown(page))
    client.post(ENROL, {"otp_token": code})
    client.logout()

    replayed = _password_only(client, newcomer, code=code)
    assert replayed.status_code == 200
    assert "That code is not right" in replayed.content.decode()
    clock.shift(timedelta(seconds=60))
    device = TOTPDevice.objects.get(user=newcomer)
    fresh = _password_only(client, newcomer, code=_code(device.bin_key))
    assert (fresh.status_code, fresh["Location"]) == (302, "/admin/")


def test_too_many_wrong_codes_sign_the_person_out_and_drop_the_key(client, newcomer, clock):
    page = _enrolling(client, newcomer)
    first_key = _key_shown(page)
    for n in range(1, enrolment_services.MAX_FAILURES):
        response = client.post(ENROL, {"otp_token": _wrong_code(first_key)})
        assert response.status_code == 200
        clock.shift(timedelta(seconds=2 ** (n - 1)))  # the device's throttle: 1, 2, 4, 8 s

    response = client.post(ENROL, {"otp_token": _wrong_code(first_key)})

    assert (response.status_code, response["Location"]) == (302, "/admin/login/")
    assert "Too many wrong codes" in client.get("/admin/login/").content.decode()
    assert not TOTPDevice.objects.filter(user=newcomer).exists()
    assert client.get(ENROL)["Location"].startswith("/admin/login/")
    # Signing in again issues a new key: the old one is worth nothing.
    again = _enrolling(client, newcomer)
    assert _key_shown(again) != first_key


def test_a_code_typed_too_soon_after_a_wrong_one_waits_without_counting(client, newcomer, clock):
    page = _enrolling(client, newcomer)
    key = _key_shown(page)
    client.post(ENROL, {"otp_token": _wrong_code(key)})

    response = client.post(ENROL, {"otp_token": _code(key)})  # within the 1 s throttle

    assert "Wait a few seconds" in response.content.decode()
    device = TOTPDevice.objects.get(user=newcomer)
    assert (device.confirmed, device.throttling_failure_count) == (False, 1)
    clock.shift(timedelta(seconds=1))
    assert client.post(ENROL, {"otp_token": _code(key)}).status_code == 302


def test_a_reload_keeps_the_key_and_another_sign_in_replaces_it(newcomer):
    mine, theirs = Client(), Client()
    my_page = _enrolling(mine, newcomer)
    assert _key_shown(mine.get(ENROL)) == _key_shown(my_page)  # a reload: the same key

    their_page = _enrolling(theirs, newcomer)  # someone else with the same password
    assert _key_shown(their_page) != _key_shown(my_page)
    assert TOTPDevice.objects.filter(user=newcomer).count() == 1

    # The key I was shown is gone: my code confirms nothing, and I get a key of my own.
    response = mine.post(ENROL, {"otp_token": _code(_key_shown(my_page))})
    assert response.status_code == 200
    assert "This QR code was replaced" in response.content.decode()
    assert not TOTPDevice.objects.get(user=newcomer).confirmed
    # ... which in turn the other session's code no longer matches.
    response = theirs.post(ENROL, {"otp_token": _code(_key_shown(their_page))})
    assert "This QR code was replaced" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=newcomer, confirmed=True).exists()


def test_left_over_unconfirmed_devices_become_one(client, newcomer):
    for name in ("old", "older"):
        TOTPDevice.objects.create(user=newcomer, name=name, confirmed=False)
    page = _enrolling(client, newcomer)
    device = TOTPDevice.objects.get(user=newcomer)
    assert _key_shown(page) == device.bin_key


def test_a_post_without_a_csrf_token_is_refused(newcomer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(newcomer)
    page = client.get(ENROL)
    code = _code(_key_shown(page))

    refused = client.post(ENROL, {"otp_token": code})

    assert refused.status_code == 403
    assert not TOTPDevice.objects.get(user=newcomer).confirmed
    token = client.cookies["csrftoken"].value
    accepted = client.post(ENROL, {"otp_token": code, "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert TOTPDevice.objects.get(user=newcomer).confirmed


def test_someone_with_an_app_never_sees_enrolment(client, agent):
    _signed_in(client, agent)
    assert client.get(ENROL)["Location"] == "/admin/"
    assert client.post(ENROL, {"otp_token": "123456"}).status_code == 403
    assert TOTPDevice.objects.filter(user=agent).count() == 1


def test_someone_with_an_app_but_an_unverified_session_cannot_enrol(client, agent):
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    client.force_login(agent)  # the password, never the code
    assert client.get(ENROL)["Location"] == "/admin/"
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert client.post(ENROL, {"otp_token": "123456"}).status_code == 403
    assert TOTPDevice.objects.filter(user=agent).count() == 1


def test_backup_codes_alone_count_as_an_authenticator(client, agent):
    StaticDevice.objects.create(user=agent, name="backup", confirmed=True)
    client.force_login(agent)
    assert client.get(ENROL)["Location"] == "/admin/"
    assert client.post(ENROL, {"otp_token": "123456"}).status_code == 403
    assert not TOTPDevice.objects.filter(user=agent).exists()


def test_someone_with_an_app_must_still_give_its_code_at_sign_in(client, agent):
    device = TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)

    response = _password_only(client, agent)

    assert response.status_code == 200
    assert "Enter the code from your authenticator app." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(ENROL)["Location"].startswith("/admin/login/")
    wrong = _password_only(client, agent, code=_wrong_code(device.bin_key))
    assert (wrong.status_code, "_auth_user_id" in client.session) == (200, False)


def test_a_wrong_password_never_reaches_enrolment(client, newcomer):
    response = _password_only(client, newcomer, password="not the password")

    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(ENROL)["Location"].startswith("/admin/login/?next=/admin/enrol/")
    assert not TOTPDevice.objects.filter(user=newcomer).exists()


def test_nobody_signed_in_is_sent_to_sign_in(client):
    assert client.get(ENROL)["Location"] == "/admin/login/?next=/admin/enrol/"
    assert client.post(ENROL, {"otp_token": "123456"})["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.exists()


def test_someone_not_on_the_staff_is_refused(client):
    outsider = UserFactory(username="not.staff", is_staff=False)

    response = _password_only(client, outsider)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session

    client.force_login(outsider)
    assert client.get(ENROL).status_code == 403
    assert client.post(ENROL, {"otp_token": "123456"}).status_code == 403
    assert not TOTPDevice.objects.exists()


def test_a_deactivated_staff_member_is_refused(client, newcomer):
    newcomer.is_active = False
    newcomer.save()

    response = _password_only(client, newcomer)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session

    client.force_login(newcomer)  # a session from before the deactivation
    assert client.get(ENROL)["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.exists()


def test_signing_out_from_enrolment_ends_the_session(client, newcomer):
    _enrolling(client, newcomer)
    response = client.post("/admin/enrol/sign-out/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/")
    assert "_auth_user_id" not in client.session
    assert client.get(ENROL)["Location"].startswith("/admin/login/")


def _events(records):
    """What each record says, without its timestamp (whose microseconds could be any 6 digits)."""
    for record in records:
        if isinstance(record.msg, dict):  # structlog's event dict
            yield repr({k: v for k, v in record.msg.items() if k != "timestamp"})
        else:
            yield record.getMessage()


def test_the_key_is_never_logged_nor_shown_on_another_page(client, newcomer, caplog):
    caplog.set_level(logging.DEBUG)
    login_page = client.get(LOGIN).content.decode()
    page = _enrolling(client, newcomer)
    key = _key_shown(page)
    device = TOTPDevice.objects.get(user=newcomer)
    code = _code(key)
    client.post(ENROL, {"otp_token": _wrong_code(key)})
    device.refresh_from_db()
    device.throttling_failure_timestamp = None  # no waiting for the throttle here
    device.save()
    client.post(ENROL, {"otp_token": code})

    secrets = {
        device.key,
        device.key.upper(),
        enrolment_services.manual_key(device),
        enrolment_services.manual_key(device).replace(" ", ""),
    }
    assert "staff_enrolment.confirmed" in caplog.text  # the log was captured
    assert "staff_enrolment.code_refused" in caplog.text
    logged = caplog.text + " ".join(repr(r.__dict__) for r in caplog.records)
    assert not {s for s in secrets if s in logged}
    assert not [event for event in _events(caplog.records) if code in event]
    pages = [login_page]
    for url in ("/admin/", "/admin/records/", "/admin/login/", ENROL, "/admin/enrol/sign-out/"):
        pages.append(client.get(url, follow=True).content.decode())
    assert not {s for s in secrets for html in pages if s in html}


def test_an_administrator_never_sees_the_key_of_an_unconfirmed_app(client, newcomer, admin_user):
    _enrolling(Client(), newcomer)
    device = TOTPDevice.objects.get(user=newcomer)
    _signed_in(client, admin_user)
    for url in (f"/admin/otp_totp/totpdevice/{device.pk}/change/", "/admin/otp_totp/totpdevice/"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert device.key not in html
        assert enrolment_services.manual_key(device).replace(" ", "") not in html
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
