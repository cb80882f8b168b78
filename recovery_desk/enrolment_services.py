"""A staff member's first authenticator app: issued after the password, confirmed by a first code.

Someone with no confirmed device signs in with the password alone (recovery_desk/admin_site.py)
and can open nothing but the enrolment page until one TOTP device is confirmed
(docs/design.md "Staff sign-in").

Each person has at most one unconfirmed device. Its key is issued to one session: the session
keeps a keyed hash of the key (never the key), and a session that did not issue the current key
gets a new one. So a key someone else saw (an earlier or a parallel sign-in with the same
password) is never the one confirmed. Keys and codes are never logged; events carry ids and
counts only.
"""

from base64 import b32encode
from dataclasses import dataclass
from enum import Enum

import qrcode
import structlog
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key
from qrcode.image.svg import SvgPathImage

log = structlog.get_logger(__name__)

# Wrong first codes in one sign-in before the person is signed out and the key dropped. The
# device's own throttle (django-otp) also makes them wait 1, 2, 4, 8 s between wrong codes.
MAX_FAILURES = 5
DEVICE_NAME = "Authenticator app"
_FINGERPRINT_SALT = "recovery_desk.enrolment.issued_key"


def awaiting_enrolment(user) -> bool:
    """A signed-in, active staff member with no confirmed device of any kind (so never
    verified): the one person the enrolment page is for."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and not user_has_device(user, confirmed=True)
    )


def _fingerprint(device: TOTPDevice) -> str:
    """What the session keeps to know it issued the device's current key: a keyed hash."""
    return salted_hmac(_FINGERPRINT_SALT, device.key, algorithm="sha256").hexdigest()


def _issued_here(device: TOTPDevice, issued: str | None) -> bool:
    return bool(issued) and constant_time_compare(_fingerprint(device), issued or "")


def _lock_person(user) -> None:
    """Serialise everything about one person's enrolment (issue, confirm) on their user row."""
    get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)


@dataclass(frozen=True)
class Issued:
    device: TOTPDevice
    fingerprint: str  # for the session; never the key


def issue_key(user, *, issued: str | None) -> Issued | None:
    """The person's one unconfirmed TOTP device, holding a key this session issued: the same
    key on a reload, a new one when the session did not issue the current key.

    None when the person already has a confirmed device: enrolment never adds a second one.
    """
    with transaction.atomic():
        _lock_person(user)
        if user_has_device(user, confirmed=True):
            return None
        unconfirmed = list(TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk"))
        for extra in unconfirmed[1:]:
            extra.delete()
        if not unconfirmed:
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
            log.info("staff_enrolment.key_issued", user_id=user.pk, device_id=device.pk)
        else:
            device = unconfirmed[0]
            if not _issued_here(device, issued):
                device.key = default_key()
                device.name = DEVICE_NAME
                device.last_t, device.drift = -1, 0
                device.throttle_reset(commit=False)  # a new key: its own count of wrong codes
                device.save()
                log.info("staff_enrolment.key_issued", user_id=user.pk, device_id=device.pk)
        return Issued(device, _fingerprint(device))


class Outcome(Enum):
    CONFIRMED = "confirmed"
    WRONG = "wrong"  # counted
    WAIT = "wait"  # the device's throttle: not checked, not counted
    TOO_MANY = "too_many"  # the limit: the key is dropped, the view signs the person out
    STALE = "stale"  # this session did not issue the current key: not checked
    ENROLLED = "enrolled"  # a confirmed device exists already


@dataclass(frozen=True)
class Confirmation:
    outcome: Outcome
    device: TOTPDevice | None = None
    failures: int = 0


def confirm_first_code(user, *, issued: str | None, code: str) -> Confirmation:
    """Check the first code against the key this session issued; a right one confirms it.

    django-otp's ``verify_token`` does the checking: constant time, a code counts once (last_t),
    each wrong one is counted and throttled on the device.
    """
    with transaction.atomic():
        _lock_person(user)
        if user_has_device(user, confirmed=True):
            return Confirmation(Outcome.ENROLLED)
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None or not _issued_here(device, issued):
            return Confirmation(Outcome.STALE)
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            return Confirmation(Outcome.WAIT, device, device.throttling_failure_count)
        if device.verify_token(code):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            log.info("staff_enrolment.confirmed", user_id=user.pk, device_id=device.pk)
            return Confirmation(Outcome.CONFIRMED, device)
        failures = device.throttling_failure_count
        log.warning(
            "staff_enrolment.code_refused", user_id=user.pk, device_id=device.pk, failures=failures
        )
        if failures >= MAX_FAILURES:
            device.delete()
            log.warning("staff_enrolment.too_many_codes", user_id=user.pk, failures=failures)
            return Confirmation(Outcome.TOO_MANY, failures=failures)
        return Confirmation(Outcome.WRONG, device, failures)


def manual_key(device: TOTPDevice) -> str:
    """The key as authenticator apps take it by hand: base32, in groups of four."""
    key = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code (paths only: no text, no image)."""
    image = qrcode.make(device.config_url, image_factory=SvgPathImage, border=4)
    return str(image.to_string(encoding="unicode"))
