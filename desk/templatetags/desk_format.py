"""Readable times for the desk: "4 hours", "1 day 2 hours", never "4:00:00"."""

from datetime import timedelta

from django import template

register = template.Library()

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def readable_duration(value: timedelta | None, parts: int = 2) -> str:
    """The largest ``parts`` units of a duration, in words."""
    if value is None:
        return "—"
    seconds = int(abs(value.total_seconds()))
    if seconds == 0:
        return "none"
    words = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            words.append(f"{count} {name}{'' if count == 1 else 's'}")
        if len(words) == parts:
            break
    return " ".join(words)


@register.filter
def duration(value: timedelta | None) -> str:
    return readable_duration(value)
