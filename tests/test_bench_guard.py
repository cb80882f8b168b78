"""The benchmarks empty the desk's tables: they refuse a database that holds real staff."""

import pytest

from bench.guard import RealDeskError, refuse_a_real_desk
from tests.cases.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_database_with_only_the_benchmarks_staff_may_be_emptied():
    UserFactory(username="bench.agent0")
    refuse_a_real_desk()


def test_a_database_with_real_staff_is_refused():
    UserFactory(username="bench.agent0")
    UserFactory(username="alice")
    with pytest.raises(RealDeskError, match="alice"):
        refuse_a_real_desk()
