"""Evidence methods and their strength (DESIGN.md "Verification").

Strength is what one passed check adds to a case's score; ``factor`` groups methods that are
not independent of each other (two codes from the same phone prove one thing). Knowledge-based
questions score zero and are refused outright (NIST SP 800-63B-4 §4.2: no KBA for recovery).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    code: str
    label: str
    strength: int
    factor: str


TOTP = Method("totp", "Code read from an enrolled TOTP authenticator", 2, "enrolled_authenticator")

METHODS: dict[str, Method] = {m.code: m for m in (TOTP,)}
REFUSED_METHODS = frozenset({"knowledge_questions"})
