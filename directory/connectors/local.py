from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
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
    with transaction.atomic():
        for row in rows.select_for_update():
            row.revoked_at = now
            row.save(update_fields=["revoked_at"])
            count += 1
    return count


class LocalDirectory:
    """The embedded directory: acts on our own tables, each call in its own transaction (as a
    remote directory would commit each call on its side). Every call is idempotent by nature,
    so the idempotency key is not needed to de-duplicate here."""

    name = "local"
    capabilities = frozenset(Capability)

    def set_password(self, identity: Identity, *, password: str, idempotency_key: str = "") -> int:
        with transaction.atomic():
            identity = Identity.objects.select_for_update().get(pk=identity.pk)
            if identity.password_hash and check_password(password, identity.password_hash):
                return 0  # a retried call: this password is already set
            identity.password_hash = make_password(password)
            identity.password_changed_at = timezone.now()
            identity.save(update_fields=["password_hash", "password_changed_at"])
            return 1

    def _set_state(self, identity: Identity, state: str, *, only_from: str | None = None) -> int:
        """Move the account to ``state`` on its locked row; ``only_from``: only from that state."""
        with transaction.atomic():
            identity = Identity.objects.select_for_update().get(pk=identity.pk)
            if identity.account_state == state:
                return 0
            if only_from is not None and identity.account_state != only_from:
                return 0
            identity.account_state = state
            identity.save(update_fields=["account_state"])
            return 1

    def unlock(self, identity: Identity, *, idempotency_key: str = "") -> int:
        """Active already, or disabled: nothing to do (only a reactivation enables)."""
        return self._set_state(identity, AccountState.ACTIVE, only_from=AccountState.LOCKED)

    def enable(self, identity: Identity, *, idempotency_key: str = "") -> int:
        return self._set_state(identity, AccountState.ACTIVE)

    def disable(self, identity: Identity, *, idempotency_key: str = "") -> int:
        return self._set_state(identity, AccountState.DISABLED)

    def revoke_sessions(self, identity: Identity, *, idempotency_key: str = "") -> int:
        return _revoke_each(
            DirectorySession.objects.filter(identity=identity, revoked_at__isnull=True)
        )

    def replace_authenticators(
        self,
        identity: Identity,
        *,
        authenticator_ids: list[int] | None = None,
        idempotency_key: str = "",
    ) -> int:
        """Revoke the named authenticators (all when None); the rows stay as the binding record."""
        qs = Authenticator.objects.filter(identity=identity, revoked_at__isnull=True)
        if authenticator_ids is not None:
            qs = qs.filter(pk__in=authenticator_ids)
        return _revoke_each(qs)
