import pytest

from tests.cases.factories import make_security_reviewer


@pytest.fixture
def second(db):
    """A second security reviewer: the one who took no part."""
    return make_security_reviewer(username="security.frank")


@pytest.fixture
def people(agent, other_agent, manager, other_manager, security_reviewer, second, admin_user):
    """Every role a desk page is tried with, by name."""
    return {
        "agent": agent,
        "other_agent": other_agent,
        "manager": manager,
        "other_manager": other_manager,
        "security_reviewer": security_reviewer,
        "second": second,
        "admin_user": admin_user,
    }
