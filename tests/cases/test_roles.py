import pytest
from django.contrib.auth.models import Group

from cases import roles
from cases.models import Queue
from cases.states import Kind
from tests.cases.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queues():
    return Queue.objects.get(kind=Kind.PASSWORD_RESET), Queue.objects.get(kind=Kind.MFA_REBIND)


def test_a_queue_right_granted_to_the_role_group_counts(queues):
    agents = Group.objects.get(name=roles.AGENTS)
    roles.grant_queue_role(holder=agents, perm=roles.WORK, queue=queues[0])
    user = UserFactory()
    user.groups.add(agents)
    assert roles.can_work(user, queues[0])
    assert not roles.can_work(user, queues[1])


def test_a_right_held_through_another_group_still_needs_the_role_group(queues):
    helpers = Group.objects.create(name="Helpers")
    roles.grant_queue_role(holder=helpers, perm=roles.WORK, queue=queues[0])
    user = UserFactory()
    user.groups.add(helpers)
    assert not roles.can_work(user, queues[0])
    user.groups.add(Group.objects.get(name=roles.AGENTS))
    assert roles.can_work(user, queues[0])


def test_the_role_group_without_the_queue_right_is_not_enough(queues):
    user = UserFactory()
    user.groups.add(Group.objects.get(name=roles.AGENTS))
    roles.grant_queue_role(holder=user, perm=roles.APPROVE, queue=queues[0])
    assert not roles.can_work(user, queues[0])


def test_an_inactive_account_holds_no_role(queues):
    user = UserFactory(is_active=False)
    user.groups.add(Group.objects.get(name=roles.AGENTS))
    roles.grant_queue_role(holder=user, perm=roles.WORK, queue=queues[0])
    assert not roles.can_work(user, queues[0])


def test_a_superuser_outside_the_role_holds_no_role(queues):
    user = UserFactory(is_superuser=True)
    assert not roles.can_work(user, queues[0])
    assert not roles.can_review(user, queues[0])
