"""A code read from an enrolled TOTP authenticator (possession; NIST SP 800-63B-4 §5.1.4)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from directory.models import Authenticator, Identity
from verification.errors import VerificationError
from verification.forms import TotpEvidenceForm
from verification.totp import totp_match

from .base import Attempt, EvidenceMethod


class TotpMethod(EvidenceMethod):
    """Answer: ``{"authenticator": <id>, "code": "123456"}``. The authenticator row is locked
    while checking; a code at or below the last accepted time step is a replay."""

    code = "totp"
    label = "Code read from an enrolled TOTP authenticator"
    strength = 2
    factor = "enrolled_authenticator"
    form_class = TotpEvidenceForm

    def prepare(self, *, case, holder: Identity, answer: Mapping[str, Any]) -> Attempt:
        token = str(answer.get("code") or "").strip().replace(" ", "")
        authenticator_id = str(answer.get("authenticator") or "")
        authenticator = None
        if authenticator_id.isascii() and authenticator_id.isdigit():
            authenticator = (
                Authenticator.objects.select_for_update().filter(pk=int(authenticator_id)).first()
            )
        if (
            authenticator is None
            or authenticator.identity_id != holder.pk
            or (not authenticator.is_active)
        ):
            whose = "its owner" if holder.pk != case.subject_id else "this subject"
            raise VerificationError(
                f"That is not an active authenticator of {whose}.", code="bad_authenticator"
            )
        if not (token.isascii() and token.isdigit()) or len(token) != authenticator.digits:
            raise VerificationError(
                f"A code from this authenticator is {authenticator.digits} digits.",
                code="malformed_code",
            )
        return Attempt(holder=holder, authenticator=authenticator, data={"code": token})

    def verify(self, attempt: Attempt, *, now: datetime) -> bool:
        authenticator = attempt.authenticator
        assert authenticator is not None
        step = totp_match(authenticator, attempt.data["code"], at=now)
        if step is None:
            return False
        authenticator.last_t = step
        authenticator.save(update_fields=["last_t"])
        return True
