"""A face-to-face check of the person and a photo document, attested by the agent."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from directory.models import Identity
from verification.errors import VerificationError
from verification.forms import DOCUMENT_TYPES, InPersonEvidenceForm

from .base import Attempt, EvidenceMethod


class InPersonMethod(EvidenceMethod):
    """Answer: ``{"document_type": "passport", "reference": "123X", "seen": True}``. The system
    cannot check a document itself: the evidence row keeps who checked (``checked_by``), the
    document type and the last 4 characters of its number, never the whole number."""

    code = "in_person"
    label = "In-person document check"
    strength = 2
    factor = "in_person"
    form_class = InPersonEvidenceForm

    def prepare(self, *, case, holder: Identity, answer: Mapping[str, Any]) -> Attempt:
        document_type = str(answer.get("document_type") or "")
        reference = str(answer.get("reference") or "").strip().upper()
        if document_type not in dict(DOCUMENT_TYPES):
            raise VerificationError(
                "Name the document you checked: passport, national identity card, driving "
                "licence or staff badge.",
                code="incomplete_check",
            )
        if len(reference) != 4 or not (reference.isascii() and reference.isalnum()):
            raise VerificationError(
                "Record the last 4 characters of the document number, and only those.",
                code="incomplete_check",
            )
        if answer.get("seen") is not True:
            raise VerificationError(
                "Confirm you saw the person and their document yourself.",
                code="incomplete_check",
            )
        return Attempt(
            holder=holder,
            data={"record": {"document_type": document_type, "reference_last4": reference}},
        )

    def verify(self, attempt: Attempt, *, now: datetime) -> bool:
        return True  # the agent's attestation; prepare refused anything incomplete
