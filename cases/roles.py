"""Staff roles (auth groups) and the per-queue object permissions each one holds.

A person acts in a queue only if they belong to the role's group AND hold the role's
permission on that queue (django-guardian). Superuser status grants nothing here: an
administrator who is not an approver of the queue cannot approve in it.
"""

import functools
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm

from .models import ApproverRole, Queue

AGENTS = "Service desk agents"
MANAGERS = "Managers"
SECURITY_REVIEWERS = "Security reviewers"

WORK = "cases.work_queue"
APPROVE = "cases.approve_queue"
REVIEW = "cases.review_queue"

ROLE_GROUPS: dict[str, str] = {
    ApproverRole.MANAGER: MANAGERS,
    ApproverRole.SECURITY_REVIEWER: SECURITY_REVIEWERS,
}


@functools.cache
def _role_sql() -> str:
    """A static statement: the role check runs on every action, and composing it through the
    ORM costs several times the query itself (bench/README.md). Tables come from the models.
    """
    user_model = get_user_model()
    member = user_model.groups.through._meta.db_table
    return f"""
        SELECT 1 FROM {member} m
        JOIN {Group._meta.db_table} g ON g.id = m.group_id
        WHERE m.user_id = %s AND g.name = %s AND (
            EXISTS (
                SELECT 1 FROM {UserObjectPermission._meta.db_table} o
                JOIN {Permission._meta.db_table} p ON p.id = o.permission_id
                WHERE o.user_id = m.user_id AND p.codename = %s
                  AND o.content_type_id = %s AND o.object_pk = %s)
            OR EXISTS (
                SELECT 1 FROM {GroupObjectPermission._meta.db_table} o
                JOIN {Permission._meta.db_table} p ON p.id = o.permission_id
                JOIN {member} gm ON gm.group_id = o.group_id
                WHERE gm.user_id = m.user_id AND p.codename = %s
                  AND o.content_type_id = %s AND o.object_pk = %s)
        )"""  # noqa: S608 (table names from model metadata; every value is a parameter)


def _has_role(user, group_name: str, perm: str, queue: Queue) -> bool:
    """Member of the role's group AND holder of ``perm`` on this queue (directly or through a
    group), in one query. Guardian's own checker answers True for any superuser; this does not.
    """
    if not user.is_active:
        return False
    codename = perm.split(".")[1]
    content_type = ContentType.objects.get_for_model(Queue).pk  # cached by Django
    grant = (codename, content_type, str(queue.pk))
    with connection.cursor() as cursor:
        cursor.execute(_role_sql(), (user.pk, group_name, *grant, *grant))
        return cursor.fetchone() is not None


def can_work(user, queue: Queue) -> bool:
    return _has_role(user, AGENTS, WORK, queue)


def can_approve(user, queue: Queue, role: str) -> bool:
    return _has_role(user, ROLE_GROUPS[role], APPROVE, queue)


def can_review(user, queue: Queue) -> bool:
    return _has_role(user, SECURITY_REVIEWERS, REVIEW, queue)


@dataclass(frozen=True)
class QueueRoles:
    """Which queues one person works, approves in (with which approver roles) and reviews."""

    works: frozenset[int]
    approves: dict[int, frozenset[str]]
    reviews: frozenset[int]

    @property
    def any(self) -> bool:
        return bool(self.works or self.approves or self.reviews)

    def on(self, queue_id: int) -> bool:
        return queue_id in self.works or queue_id in self.approves or queue_id in self.reviews


NO_ROLES = QueueRoles(frozenset(), {}, frozenset())


def queue_roles(user) -> QueueRoles:
    """Every per-queue role of ``user`` in two queries, by the same rule as ``_has_role``
    (group membership AND the object permission): the desk's pages and links ask this once per
    request instead of asking ``can_*`` per queue.
    """
    if not user.is_active or not user.pk:
        return NO_ROLES
    groups = set(user.groups.values_list("name", flat=True))
    queue_type = ContentType.objects.get_for_model(Queue)
    direct = UserObjectPermission.objects.filter(user=user, content_type=queue_type)
    shared = GroupObjectPermission.objects.filter(group__user=user, content_type=queue_type)
    held: dict[str, set[int]] = {}
    pairs = ("permission__codename", "object_pk")
    for codename, object_pk in direct.values_list(*pairs).union(shared.values_list(*pairs)):
        if object_pk.isdecimal():
            held.setdefault(codename, set()).add(int(object_pk))
    works = frozenset(held.get("work_queue", ())) if AGENTS in groups else frozenset()
    reviewer = SECURITY_REVIEWERS in groups
    reviews = frozenset(held.get("review_queue", ())) if reviewer else frozenset()
    approver_roles = frozenset(role for role, group in ROLE_GROUPS.items() if group in groups)
    approves = (
        dict.fromkeys(held.get("approve_queue", ()), approver_roles) if approver_roles else {}
    )
    return QueueRoles(works, approves, reviews)


def grant_queue_role(*, holder, perm: str, queue: Queue) -> None:
    """Give a user or a group one role permission on one queue."""
    assign_perm(perm, holder, queue)
