"""The desk's menu: one entry per page, drawn only for the people the page lets in."""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from . import access


@dataclass(frozen=True)
class Entry:
    label: str
    url_name: str
    may_open: Callable


def _anyone(request) -> bool:
    return True


ENTRIES: tuple[Entry, ...] = (
    Entry("Desk", "admin:index", _anyone),
    Entry("Open a case", "admin:desk:open_case", access.is_agent),
    Entry("Approvals inbox", "admin:desk:inbox", access.is_approver),
    Entry("Escalations", "admin:desk:escalations", access.is_reviewer),
    Entry("Break-glass reviews", "admin:desk:reviews", access.is_reviewer),
    Entry("Trail", "admin:desk:trail", access.is_reviewer),
    Entry("Dashboard", "admin:desk:dashboard", access.is_reviewer),
    Entry("Records", "admin:records", _anyone),
)


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    current: bool


def links(request) -> list[Link]:
    found = []
    for entry in ENTRIES:
        if not entry.may_open(request):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:  # a page not built yet is simply not in the menu
            continue
        found.append(Link(entry.label, url, request.path == url))
    return found


def desk_nav(request) -> dict:
    """Context processor: the menu for signed-in staff with a second factor, computed only
    when a template draws it."""
    user = getattr(request, "user", None)
    verified = getattr(user, "is_verified", None)
    if user is None or not user.is_active or not user.is_staff or not (verified and verified()):
        return {"desk_nav": []}
    return {"desk_nav": SimpleLazyObject(lambda: links(request))}
