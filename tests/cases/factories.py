import factory
from django.contrib.auth.models import Group, User

from cases import roles
from cases.models import Queue


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


def _staff_in(group_name: str, perms: tuple[str, ...]):
    def make(**kwargs) -> User:
        user = UserFactory(**kwargs)
        user.groups.add(Group.objects.get(name=group_name))
        for queue in Queue.objects.all():
            for perm in perms:
                roles.grant_queue_role(holder=user, perm=perm, queue=queue)
        return user

    return make


# Roles with per-queue object permissions on every queue, granted to the user directly.
make_agent = _staff_in(roles.AGENTS, (roles.WORK,))
make_manager = _staff_in(roles.MANAGERS, (roles.APPROVE,))
make_security_reviewer = _staff_in(roles.SECURITY_REVIEWERS, (roles.REVIEW, roles.APPROVE))
