"""The one clock every deadline and hold is compared against: the database's.

An app host whose clock runs fast must not end a hold early, and two web hosts must not
disagree about whether a deadline has passed (docs/design.md "Time"). So services read the
time from the database, inside the transaction that acts on it: ``now()`` asks the database,
and ``lock_case`` reads it in the same statement that locks the case (``read=``).

``pinned(at)`` fixes the clock for code that must act at another moment: the tests, and the
demo seed, which drives last week's cases a few days in the past. Nothing reads a pin from the
environment or from a request.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import DateTimeField, Value
from django.db.models.functions import Now

# The same expressions as Django's ``Now()``: SQLite's CURRENT_TIMESTAMP has whole seconds only.
_NOW_SQL = {"sqlite": "SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')"}
_pinned: datetime | None = None


def now(*, read: datetime | None = None) -> datetime:
    """The database's time (or the pinned time). ``read``: a value of ``Now()`` already
    selected in this transaction, which saves the round trip."""
    if _pinned is not None:
        return _pinned
    if read is not None:
        return read
    return database_now()


def now_expression() -> Now | Value:
    """The clock inside a query (``Now()``), so a filter and a lock read it in one statement."""
    if _pinned is not None:
        return Value(_pinned, output_field=DateTimeField())
    return Now()


def database_now() -> datetime:
    """Ask the database for the time, ignoring any pin."""
    with connection.cursor() as cursor:
        cursor.execute(_NOW_SQL.get(connection.vendor, "SELECT CURRENT_TIMESTAMP"))
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # SQLite answers with text in UTC
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextmanager
def pinned(at: datetime) -> Iterator["Pin"]:
    """Fix the clock at ``at`` until the block ends; ``pin.shift(delta)`` moves it."""
    global _pinned
    before = _pinned
    pin = Pin()
    _pinned = at
    try:
        yield pin
    finally:
        _pinned = before


class Pin:
    def shift(self, delta: timedelta) -> None:
        global _pinned
        assert _pinned is not None
        _pinned = _pinned + delta

    def move_to(self, at: datetime) -> None:
        global _pinned
        _pinned = at
