import hmac
from binascii import unhexlify
from datetime import datetime, timedelta

from django_otp.oath import TOTP

from directory.models import Authenticator


def totp_match(authenticator: Authenticator, token: str, *, at: datetime) -> int | None:
    """The time step ``token`` is valid for, or None; steps at or below ``last_t`` are replays.

    Every candidate is compared in constant time (``hmac.compare_digest``).
    """
    totp = TOTP(
        unhexlify(authenticator.key.encode()), step=authenticator.step, digits=authenticator.digits
    )
    totp.time = at.timestamp()
    matched = None
    for offset in range(-authenticator.tolerance, authenticator.tolerance + 1):
        totp.drift = offset
        step = totp.t()
        expected = str(totp.token()).zfill(authenticator.digits)
        if hmac.compare_digest(expected, token) and step > authenticator.last_t:
            matched = step
    return matched


def totp_code_at(authenticator: Authenticator, *, at: datetime) -> str:
    """The code an authenticator shows at ``at`` (the subject's device, in demos and tests)."""
    totp = TOTP(
        unhexlify(authenticator.key.encode()), step=authenticator.step, digits=authenticator.digits
    )
    totp.time = at.timestamp()
    return str(totp.token()).zfill(authenticator.digits)


def totp_code_refused_at(authenticator: Authenticator, *, at: datetime) -> str:
    """A well-formed code the authenticator accepts at no step near ``at`` (what a caller
    guessing would read; demos and tests)."""
    near = {
        totp_code_at(authenticator, at=at + timedelta(seconds=authenticator.step * k))
        for k in range(-3, 4)
    }
    return next(c for c in ("000000", "123456", "111111", "999999") if c not in near)
