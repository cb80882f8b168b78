import pytest

from directory.models import ChannelOfRecord
from notices.tasks import send_notification
from tests.celery_support import live_worker  # noqa: F401  (a fixture, used by test_live_worker)
from tests.directory.factories import ChannelFactory, IdentityFactory


@pytest.fixture
def subject(db):
    """Someone with an email, an SMS and a push channel of record (push has no backend)."""
    person = IdentityFactory(username="notice.subject", display_name="Nora Subject")
    ChannelFactory(identity=person, kind=ChannelOfRecord.Kind.EMAIL, address="nora@example.test")
    ChannelFactory(identity=person, kind=ChannelOfRecord.Kind.SMS, address="+15550100")
    ChannelFactory(identity=person, kind=ChannelOfRecord.Kind.PUSH, address="device-token-1")
    return person


def channel(person, kind) -> ChannelOfRecord:
    return person.channels.get(kind=kind)


@pytest.fixture
def enqueued(monkeypatch):
    """The broker, recorded: (notification id, kwargs) of every message handed to it."""
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(send_notification, "delay", lambda pk, **kw: sent.append((pk, kw)))
    monkeypatch.setattr(
        send_notification,
        "apply_async",
        lambda args, kwargs=None, **options: sent.append((args[0], kwargs or {})),
    )
    return sent


@pytest.fixture
def run_eagerly(monkeypatch):
    """Messages handed to the broker run at once, in this process."""
    monkeypatch.setattr(
        send_notification,
        "delay",
        lambda pk, **kw: send_notification.apply(args=(pk,), kwargs=kw).get(),
    )
