"""A call back to a phone number of record, attested by the agent (weak: the policy decides)."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from directory.models import ChannelOfRecord, Identity
from verification.errors import VerificationError
from verification.forms import CallbackEvidenceForm

from .base import Attempt, EvidenceMethod

PHONE_KINDS = (ChannelOfRecord.Kind.SMS, ChannelOfRecord.Kind.VOICE)
# A number changed this recently is how a takeover often starts (the case page marks it too,
# cases.selectors.RECENT_CHANNEL): calling it back proves nothing.
RECENT = timedelta(days=14)


def _digits(address: str) -> str:
    return "".join(ch for ch in address if ch.isascii() and ch.isdigit())


class CallbackMethod(EvidenceMethod):
    """Answer: ``{"number_ending": "4567", "answered": True}``: the last digits of a phone
    channel of record of the holder. Never a number the caller gives: one not on record is
    refused."""

    code = "callback"
    label = "Call back to a phone number of record"
    strength = 1
    # Every callback goes through the phone of record: two of them count once.
    factor = "phone_of_record"
    form_class = CallbackEvidenceForm

    def prepare(self, *, case, holder: Identity, answer: Mapping[str, Any]) -> Attempt:
        ending = str(answer.get("number_ending") or "").strip()
        if not (ending.isascii() and ending.isdigit() and len(ending) == 4):
            raise VerificationError(
                "Give the last 4 digits of the number of record you called.",
                code="incomplete_check",
            )
        if answer.get("answered") is not True:
            raise VerificationError(
                "Confirm you called the number of record back and the person answered.",
                code="incomplete_check",
            )
        channel = next(
            (
                c
                for c in ChannelOfRecord.objects.select_for_update()
                .filter(identity_id=holder.pk, kind__in=PHONE_KINDS)
                .order_by("pk")
                if _digits(c.address).endswith(ending)
            ),
            None,
        )
        whose = "its owner" if holder.pk != case.subject_id else "this subject"
        if channel is None:
            raise VerificationError(
                f"No phone number of record of {whose} ends in {ending}; call back only a "
                "number on record, never one the caller gives.",
                code="bad_channel",
            )
        if channel.added_at > case.opened_at - RECENT:
            raise VerificationError(
                f"That number was added to the record of {whose} less than 14 days ago; a "
                "recently changed number cannot prove who the caller is.",
                code="recent_channel",
            )
        return Attempt(
            holder=holder,
            data={
                "record": {
                    "channel": channel.pk,
                    "channel_kind": channel.kind,
                    "number_ending": ending,
                }
            },
        )

    def verify(self, attempt: Attempt, *, now: datetime) -> bool:
        return True  # the agent's attestation; prepare refused any number not on record
