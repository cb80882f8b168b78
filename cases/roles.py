"""Staff roles (auth groups) and the per-queue object permissions each one holds.

A person acts in a queue only if they belong to the role's group AND hold the role's
permission on that queue (django-guardian). Superuser status grants nothing here: an
administrator who is not an approver of the queue cannot approve in it.
"""

from guardian.shortcuts import assign_perm

from .models import ApproverRole, Queue

AGENTS = "Service desk agents"
MANAGERS = "Managers"
SECURITY_REVIEWERS = "Security reviewers"

WORK = "cases.work_queue"
APPROVE = "cases.approve_queue"
REVIEW = "cases.review_queue"

ROLE_GROUPS = {
    ApproverRole.MANAGER: MANAGERS,
    ApproverRole.SECURITY_REVIEWER: SECURITY_REVIEWERS,
}


def _in_group(user, group_name: str) -> bool:
    return user.is_active and user.groups.filter(name=group_name).exists()


def _holds(user, perm: str, queue: Queue) -> bool:
    from guardian.core import ObjectPermissionChecker

    # Guardian's get_perms/has_perm answer True for any superuser; require an explicit grant.
    codename = perm.split(".")[1]
    checker = ObjectPermissionChecker(user)
    return codename in checker.get_user_perms(queue) or codename in checker.get_group_perms(queue)


def can_work(user, queue: Queue) -> bool:
    return _in_group(user, AGENTS) and _holds(user, WORK, queue)


def can_approve(user, queue: Queue, role: str) -> bool:
    return _in_group(user, ROLE_GROUPS[role]) and _holds(user, APPROVE, queue)


def can_review(user, queue: Queue) -> bool:
    return _in_group(user, SECURITY_REVIEWERS) and _holds(user, REVIEW, queue)


def grant_queue_role(*, holder, perm: str, queue: Queue) -> None:
    """Give a user or a group one role permission on one queue."""
    assign_perm(perm, holder, queue)
