"""Readable times for the desk: "4 hours", "1 day 2 hours", never "4:00:00"."""

from datetime import timedelta

from django import template

from cases.policy import duration_words

register = template.Library()


def readable_duration(value: timedelta | None, parts: int = 2) -> str:
    """The largest ``parts`` units of a duration, in words."""
    return "—" if value is None else duration_words(abs(value), parts=parts)


@register.filter
def duration(value: timedelta | None) -> str:
    return readable_duration(value)
