import pytest

from notices.tasks import send_notification


@pytest.fixture
def enqueued(monkeypatch):
    """The broker, recorded: (notification id, kwargs) of every message handed to it."""
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(send_notification, "delay", lambda pk, **kw: sent.append((pk, kw)))
    return sent
