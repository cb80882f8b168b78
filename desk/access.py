"""Who may open which desk page. Pages raise a 403 with a sentence; links to a page are drawn
only for people who pass the same check (desk/navigation.py), so no link leads to a 403."""

from django.core.exceptions import PermissionDenied

from cases.roles import QueueRoles, queue_roles

_CACHE = "_desk_queue_roles"


def roles_of(request) -> QueueRoles:
    """The signed-in person's queue roles, read once per request."""
    cached = getattr(request, _CACHE, None)
    if cached is None:
        cached = queue_roles(request.user)
        setattr(request, _CACHE, cached)
    return cached


def is_agent(request) -> bool:
    return bool(roles_of(request).works)


def is_approver(request) -> bool:
    return bool(roles_of(request).approves)


def is_reviewer(request) -> bool:
    return bool(roles_of(request).reviews)


def may_view_case(request, case) -> bool:
    """Anyone with a role on the case's queue, and staff whose group may read cases."""
    return roles_of(request).on(case.queue_id) or request.user.has_perm("cases.view_recoverycase")


def require(allowed: bool, why: str) -> None:
    if not allowed:
        raise PermissionDenied(why)


def require_agent(request) -> None:
    require(is_agent(request), "Only a service desk agent of a queue can do this.")


def require_approver(request) -> None:
    require(is_approver(request), "Only an approver of a queue can see this page.")


def require_reviewer(request) -> None:
    require(is_reviewer(request), "Only a security reviewer can see this page.")
