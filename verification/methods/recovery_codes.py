"""Saved recovery codes: issued at enrolment, kept hashed, each good once (NIST SP 800-63B-4
§5.1.2, look-up secrets)."""

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from directory.models import Identity
from verification.errors import VerificationError
from verification.forms import RecoveryCodeEvidenceForm

from .base import Attempt, EvidenceMethod

# No 0/O, 1/I/L: a code is read out over the phone.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
GROUPS, GROUP_LENGTH = 3, 4  # "7KQX-M4TZ-PRW9": 12 characters, about 59 bits
CODE_LENGTH = GROUPS * GROUP_LENGTH
# A code is random, not chosen by a person, so it needs far fewer rounds than a password; still
# enough that a stolen table cannot be walked through. Salted per code.
ITERATIONS = 100_000
_HASHER = PBKDF2PasswordHasher()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP_LENGTH] for i in range(0, CODE_LENGTH, GROUP_LENGTH))


def normalise(code: str) -> str:
    """What the caller read, as stored: capitals, no dashes or spaces."""
    return "".join(ch for ch in str(code).upper() if ch not in "- \t")


def hash_code(code: str) -> str:
    return _HASHER.encode(normalise(code), _HASHER.salt(), iterations=ITERATIONS)


def code_matches(code: str, encoded: str) -> bool:
    """Constant-time comparison (the hasher's ``constant_time_compare``)."""
    return _HASHER.verify(normalise(code), encoded)


class RecoveryCodesMethod(EvidenceMethod):
    """Answer: ``{"code": "7KQX-M4TZ-PRW9"}``. Every unused code of the holder is locked and
    compared; the matching one is spent, so a code read twice fails the second time."""

    code = "recovery_codes"
    label = "Saved recovery code"
    strength = 2
    # Something the person keeps apart from their authenticator (printed, in a password
    # manager): a re-bind after a lost phone may lean on it, and it adds to a TOTP code.
    factor = "recovery_code"
    form_class = RecoveryCodeEvidenceForm

    def prepare(self, *, case, holder: Identity, answer: Mapping[str, Any]) -> Attempt:
        from verification.models import RecoveryCode

        token = normalise(answer.get("code") or "")
        if len(token) != CODE_LENGTH or any(ch not in ALPHABET for ch in token):
            raise VerificationError(
                f"A recovery code is {CODE_LENGTH} letters and digits, such as 7KQX-M4TZ-PRW9.",
                code="malformed_code",
            )
        unused = list(
            RecoveryCode.objects.select_for_update()
            .filter(identity_id=holder.pk, used_at__isnull=True)
            .order_by("pk")
        )
        if not unused:
            whose = "Its owner" if holder.pk != case.subject_id else "This subject"
            raise VerificationError(
                f"{whose} has no unused recovery code; use another method.",
                code="no_recovery_codes",
            )
        return Attempt(holder=holder, data={"code": token, "codes": unused, "case": case})

    def verify(self, attempt: Attempt, *, now: datetime) -> bool:
        matched = None
        for candidate in attempt.data["codes"]:  # every one, whether or not one matched
            if code_matches(attempt.data["code"], candidate.code_hash) and matched is None:
                matched = candidate
        if matched is None:
            return False
        matched.used_at = now
        matched.used_on_case = attempt.data["case"]
        matched.save(update_fields=["used_at", "used_on_case"])
        return True
