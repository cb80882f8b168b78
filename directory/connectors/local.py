from django.contrib.auth.hashers import check_password, make_password
from django.db.models import QuerySet
from django.utils import timezone

from directory.models import AccountState, Authenticator, DirectorySession, Identity

from .base import Capability


def _revoke_each(rows: QuerySet) -> int:
    """Stamp ``revoked_at`` row by row, not with QuerySet.update(): simple-history must see
    every revocation. Returns how many rows were still active.
    """
    now = timezone.now()
    count = 0
    for row in rows.select_for_update():
        row.revoked_at = now
        row.save(update_fields=["revoked_at"])
        count += 1
    return count


class LocalDirectory:
    """The embedded directory: acts on our own tables, inside the caller's transaction."""

    name = "local"
    capabilities = frozenset(Capability)

    def set_password(self, identity: Identity, *, password: str) -> int:
        if identity.password_hash and check_password(password, identity.password_hash):
            return 0  # a retried call: this password is already set
        identity.password_hash = make_password(password)
        identity.password_changed_at = timezone.now()
        identity.save(update_fields=["password_hash", "password_changed_at"])
        return 1

    def _set_state(self, identity: Identity, state: str) -> int:
        if identity.account_state == state:
            return 0
        identity.account_state = state
        identity.save(update_fields=["account_state"])
        return 1

    def unlock(self, identity: Identity) -> int:
        if identity.account_state != AccountState.LOCKED:
            return 0  # active already, or disabled: only a reactivation enables
        return self._set_state(identity, AccountState.ACTIVE)

    def enable(self, identity: Identity) -> int:
        return self._set_state(identity, AccountState.ACTIVE)

    def disable(self, identity: Identity) -> int:
        return self._set_state(identity, AccountState.DISABLED)

    def revoke_sessions(self, identity: Identity) -> int:
        return _revoke_each(
            DirectorySession.objects.filter(identity=identity, revoked_at__isnull=True)
        )

    def replace_authenticators(
        self, identity: Identity, *, authenticator_ids: list[int] | None = None
    ) -> int:
        """Revoke the named authenticators (all when None); the rows stay as the binding record."""
        qs = Authenticator.objects.filter(identity=identity, revoked_at__isnull=True)
        if authenticator_ids is not None:
            qs = qs.filter(pk__in=authenticator_ids)
        return _revoke_each(qs)
