"""The evidence methods the system checks itself, by code (docs/design.md "Evidence").

Knowledge-based questions score zero and are refused outright (NIST SP 800-63B-4 §4.2: no KBA
for recovery). Each method is a module of this package; adding one is adding it here.
"""

from .base import Attempt, EvidenceMethod
from .totp import TotpMethod

TOTP = TotpMethod()

METHODS: dict[str, EvidenceMethod] = {m.code: m for m in (TOTP,)}
REFUSED_METHODS = frozenset({"knowledge_questions"})

__all__ = ["METHODS", "REFUSED_METHODS", "TOTP", "Attempt", "EvidenceMethod"]
