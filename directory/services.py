from directory.connectors import DirectoryConnector, get_connector
from directory.models import Identity


def recovery_apply(
    *,
    identity: Identity,
    kind: str,
    replaced_authenticator_id: int | None,
    connector: DirectoryConnector | None = None,
) -> dict[str, int]:
    """Carry a completed recovery out on the directory; returns what changed, for the audit row.

    Every recovery ends the subject's sessions (OWASP ASVS 7.4.3); a reset or re-bind ends a
    lockout. A re-bind revokes the authenticator being replaced (all of them when none was
    named). Setting a password or enrolling the new authenticator is the subject's own step
    (ASVS 6.4.6: staff never choose it).
    """
    from cases.states import Kind

    connector = connector or get_connector()
    changed: dict[str, int] = {}
    if kind == Kind.REACTIVATION:
        changed["enabled"] = connector.enable(identity)
    else:
        # The person now holds a working credential again: the lockout their failed sign-ins
        # caused ends with it (a disabled account stays disabled: case_open refuses those).
        changed["unlocked"] = connector.unlock(identity)
    if kind == Kind.MFA_REBIND:
        ids = [replaced_authenticator_id] if replaced_authenticator_id else None
        changed["authenticators_revoked"] = connector.replace_authenticators(
            identity, authenticator_ids=ids
        )
    changed["sessions_revoked"] = connector.revoke_sessions(identity)
    return changed
