"""The evidence methods the system checks itself, by code (docs/design.md "Evidence").

Knowledge-based questions score zero and are refused outright (NIST SP 800-63B-4 §4.2: no KBA
for recovery). Each method is a module of this package; adding one is adding it here.
"""

from .base import Attempt, EvidenceMethod
from .callback import CallbackMethod
from .in_person import InPersonMethod
from .recovery_codes import RecoveryCodesMethod
from .totp import TotpMethod

TOTP = TotpMethod()
RECOVERY_CODES = RecoveryCodesMethod()
IN_PERSON = InPersonMethod()
CALLBACK = CallbackMethod()

METHODS: dict[str, EvidenceMethod] = {
    m.code: m for m in (TOTP, RECOVERY_CODES, IN_PERSON, CALLBACK)
}
REFUSED_METHODS = frozenset({"knowledge_questions"})
KNOWLEDGE_REFUSED = (
    "Knowledge questions (date of birth, last digits of an ID) prove nothing and are never "
    "accepted; use a method the system checks."
)

__all__ = [
    "CALLBACK",
    "IN_PERSON",
    "KNOWLEDGE_REFUSED",
    "METHODS",
    "RECOVERY_CODES",
    "REFUSED_METHODS",
    "TOTP",
    "Attempt",
    "EvidenceMethod",
]
