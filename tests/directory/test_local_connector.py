"""LocalDirectory: every method idempotent (a repeat returns 0 and changes nothing), every
change visible to simple-history, and no plain password ever stored."""

import json

import pytest
from django.contrib.auth.hashers import check_password
from django.core.serializers.json import DjangoJSONEncoder

from directory.connectors import DirectoryConnector
from directory.connectors.local import LocalDirectory
from directory.models import AccountState, Authenticator, DirectorySession, Identity
from tests.directory.factories import AuthenticatorFactory, IdentityFactory, SessionFactory

PASSWORD = "Tr0ub4dor&3-orange-staple"


@pytest.fixture
def directory():
    return LocalDirectory()


def _state(identity: Identity) -> dict:
    """Everything a connector could touch for one identity, with its history."""
    return {
        "identity": Identity.objects.filter(pk=identity.pk).values().get(),
        "identity_history": identity.history.count(),
        "sessions": list(identity.sessions.order_by("pk").values()),
        "session_history": DirectorySession.history.filter(identity_id=identity.pk).count(),
        "authenticators": list(identity.authenticators.order_by("pk").values()),
        "authenticator_history": Authenticator.history.filter(identity_id=identity.pk).count(),
    }


def test_the_local_directory_implements_the_connector_protocol(directory):
    assert isinstance(directory, DirectoryConnector)


def _repeat_changes_nothing(directory, method: str, identity: Identity, **kwargs) -> None:
    assert getattr(directory, method)(identity, **kwargs) >= 1
    before = _state(identity)
    assert getattr(directory, method)(identity, **kwargs) == 0
    assert _state(identity) == before


def test_enable_is_idempotent(db, directory):
    identity = IdentityFactory(account_state=AccountState.DISABLED)
    _repeat_changes_nothing(directory, "enable", identity)


def test_disable_is_idempotent(db, directory):
    identity = IdentityFactory(account_state=AccountState.ACTIVE)
    _repeat_changes_nothing(directory, "disable", identity)


def test_revoke_sessions_is_idempotent(db, directory):
    identity = IdentityFactory()
    SessionFactory.create_batch(2, identity=identity)
    _repeat_changes_nothing(directory, "revoke_sessions", identity)


def test_replace_authenticators_is_idempotent(db, directory):
    identity = IdentityFactory()
    AuthenticatorFactory.create_batch(2, identity=identity)
    _repeat_changes_nothing(directory, "replace_authenticators", identity)


def test_replacing_named_authenticators_is_idempotent(db, directory):
    identity = IdentityFactory()
    lost = AuthenticatorFactory(identity=identity)
    _repeat_changes_nothing(
        directory, "replace_authenticators", identity, authenticator_ids=[lost.pk]
    )


def test_set_password_is_idempotent(db, directory):
    identity = IdentityFactory()
    _repeat_changes_nothing(directory, "set_password", identity, password=PASSWORD)


def test_revoke_sessions_leaves_a_history_row_for_each_session(db, directory):
    identity = IdentityFactory()
    sessions = SessionFactory.create_batch(3, identity=identity)
    directory.revoke_sessions(identity)
    revoked = DirectorySession.history.filter(
        identity_id=identity.pk, history_type="~", revoked_at__isnull=False
    )
    assert sorted(revoked.values_list("id", flat=True)) == sorted(s.pk for s in sessions)


def test_revoke_sessions_leaves_other_identities_alone(db, directory):
    identity = IdentityFactory()
    bystander = SessionFactory()
    directory.revoke_sessions(identity)
    bystander.refresh_from_db()
    assert bystander.revoked_at is None


def test_replace_authenticators_leaves_a_history_row_for_each_one(db, directory):
    identity = IdentityFactory()
    lost, spare = AuthenticatorFactory.create_batch(2, identity=identity)
    kept = AuthenticatorFactory(identity=identity)
    directory.replace_authenticators(identity, authenticator_ids=[lost.pk, spare.pk])
    revoked = Authenticator.history.filter(history_type="~", revoked_at__isnull=False)
    assert sorted(revoked.values_list("id", flat=True)) == sorted([lost.pk, spare.pk])
    kept.refresh_from_db()
    assert kept.is_active


def test_set_password_stores_only_a_hash(db, directory):
    identity = IdentityFactory()
    directory.set_password(identity, password=PASSWORD)
    identity.refresh_from_db()
    assert PASSWORD not in identity.password_hash
    assert check_password(PASSWORD, identity.password_hash)


def test_set_password_keeps_the_password_out_of_history(db, directory):
    identity = IdentityFactory()
    directory.set_password(identity, password=PASSWORD)
    rows = list(identity.history.values())
    assert rows and "password_hash" not in rows[0]
    assert PASSWORD not in json.dumps(rows, cls=DjangoJSONEncoder)


def test_unlock_is_idempotent(db, directory):
    identity = IdentityFactory(account_state=AccountState.LOCKED)
    _repeat_changes_nothing(directory, "unlock", identity)
    identity.refresh_from_db()
    assert identity.account_state == AccountState.ACTIVE


def test_unlock_never_enables_a_disabled_account(db, directory):
    identity = IdentityFactory(account_state=AccountState.DISABLED)
    assert directory.unlock(identity) == 0
    identity.refresh_from_db()
    assert identity.account_state == AccountState.DISABLED
