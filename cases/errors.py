from dataclasses import dataclass

from recovery_desk.errors import DomainError


class CaseError(DomainError):
    code = "case_error"


class TransitionNotAllowed(CaseError):
    """The case is not in a state the action starts from."""

    code = "transition_not_allowed"


class PermissionRefused(CaseError):
    """This person may not do this to this case."""

    code = "permission_refused"


class GuardFailed(CaseError):
    """The case, its evidence or the clock do not allow it yet (or any more)."""

    code = "guard_failed"


@dataclass(frozen=True)
class Refusal:
    """Why an action is not allowed: a stable code (one per rule) and a sentence in words.

    Returned by the rules of the transition table, so that a screen can show it beside a
    disabled button and a service can raise it (``raise refusal.error()``) with the same words.
    """

    code: str
    message: str
    kind: str = "guard"  # "state", "actor" or "guard"

    def error(self) -> CaseError:
        error_class = {"state": TransitionNotAllowed, "actor": PermissionRefused}.get(
            self.kind, GuardFailed
        )
        return error_class(self.message, code=self.code)
