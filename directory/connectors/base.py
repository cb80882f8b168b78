import enum
from typing import Protocol, runtime_checkable

from directory.models import Identity
from recovery_desk.errors import DomainError


class Capability(enum.StrEnum):
    """What a directory can do; a policy may refuse a recovery a directory cannot carry out."""

    SET_PASSWORD = "set_password"  # noqa: S105 (a capability name, not a secret)
    UNLOCK = "unlock"
    ENABLE = "enable"
    DISABLE = "disable"
    REVOKE_SESSIONS = "revoke_sessions"
    REPLACE_AUTHENTICATORS = "replace_authenticators"


class ConnectorError(DomainError):
    """The directory refused or could not be reached; the caller decides whether to retry.
    A domain error, so the admin shows it as a message and the case stays as it was."""

    code = "directory_error"


@runtime_checkable
class DirectoryConnector(Protocol):
    """Every method is idempotent: calling it twice leaves the directory as calling it once.

    Methods return how many things they changed, so a retry that finds nothing to do
    is visible as 0 rather than as an error. ``idempotency_key`` (the case reference) lets a
    remote directory recognise a repeated request; a call runs outside any transaction of ours.
    """

    name: str
    capabilities: frozenset[Capability]

    def set_password(
        self, identity: Identity, *, password: str, idempotency_key: str = ""
    ) -> int: ...

    def unlock(self, identity: Identity, *, idempotency_key: str = "") -> int:
        """End a lockout (failed sign-ins); never switches on a disabled account."""
        ...

    def enable(self, identity: Identity, *, idempotency_key: str = "") -> int: ...

    def disable(self, identity: Identity, *, idempotency_key: str = "") -> int: ...

    def revoke_sessions(self, identity: Identity, *, idempotency_key: str = "") -> int: ...

    def replace_authenticators(
        self,
        identity: Identity,
        *,
        authenticator_ids: list[int] | None = None,
        idempotency_key: str = "",
    ) -> int: ...
