"""The evidence-method interface, in django-otp's device shape (docs/design.md "Evidence").

A method says whether it may be used on a case (``is_allowed``), reads and locks what the
answer names (``prepare``: the authenticator, later the channel or the code issued), and checks
the answer (``verify``). Locking the case, the independence rule, failure counting, escalation
and the audit event are the one ``evidence_check`` service's, the same for every method; a new
method is one small module here, its form for the case page (``form_class``,
``verification/forms.py``) and its tests.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from cases.errors import Refusal
from cases.models import RecoveryCase
from cases.policy import PinnedPolicy
from directory.models import Authenticator, Identity

if TYPE_CHECKING:
    from verification.forms import EvidenceForm


@dataclass
class Attempt:
    """What one answer is checked against, locked for the check."""

    holder: Identity  # who answers: the subject, or a service identity's owner
    authenticator: Authenticator | None = None
    data: dict[str, Any] = field(default_factory=dict)


class EvidenceMethod(ABC):
    code: str = ""
    label: str = ""
    strength: int = 0  # what one passed check adds to the case's score
    factor: str = ""  # methods of one factor are not independent of each other
    # What staff type in on the case page (verification/forms.py); ``form.answer()`` is what
    # ``prepare`` reads. None: the desk has no form for this method yet, so it is not offered.
    form_class: ClassVar["type[EvidenceForm] | None"] = None

    def is_allowed(self, *, case: RecoveryCase, policy: PinnedPolicy) -> Refusal | None:
        """May this method serve on this case at all?"""
        if self.code not in policy.allowed_methods:
            return Refusal(
                "method_not_allowed",
                f"This case's policy does not accept {self.label.lower()} as evidence.",
            )
        return None

    @abstractmethod
    def prepare(
        self, *, case: RecoveryCase, holder: Identity, answer: Mapping[str, Any]
    ) -> Attempt:
        """Read the answer and lock what it names; raise ``VerificationError`` when malformed
        or not the holder's (a refusal: nothing is recorded)."""

    @abstractmethod
    def verify(self, attempt: Attempt, *, now: datetime) -> bool:
        """Check the answer; on success record what stops a replay (last step, spent code)."""
