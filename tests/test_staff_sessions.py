"""Staff sessions end after 30 idle minutes, and after 8 hours however active."""

from datetime import timedelta

import pytest

from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db


def _still_signed_in(client) -> bool:
    response = client.get("/admin/")
    if response.status_code == 302:
        assert response.url.startswith("/admin/login/")
        return False
    assert response.status_code == 200
    return True


def test_a_session_left_idle_for_half_an_hour_ends(client, clock, agent):
    _signed_in(client, agent)
    assert _still_signed_in(client)
    clock.shift(timedelta(minutes=29))
    assert _still_signed_in(client)  # each request starts the idle time again
    clock.shift(timedelta(minutes=29))
    assert _still_signed_in(client)
    clock.shift(timedelta(minutes=31))
    assert not _still_signed_in(client)


def test_a_busy_session_ends_after_eight_hours(client, clock, agent):
    _signed_in(client, agent)
    busy_for = timedelta(0)
    while _still_signed_in(client):
        assert busy_for < timedelta(hours=9), "the session never ended"
        clock.shift(timedelta(minutes=20))
        busy_for += timedelta(minutes=20)
    assert timedelta(hours=8) < busy_for <= timedelta(hours=8, minutes=20)
