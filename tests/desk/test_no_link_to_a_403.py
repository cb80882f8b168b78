"""No link on any page leads a role to a 403: every role follows every link it is shown.

Each role signs in and walks the staff console from the desk home, breadth first, following
every same-site link (each path once); every page it reaches must answer 200 (or redirect
within the site). A link drawn for someone the page then refuses fails here.
"""

import re
from collections import deque
from html import unescape
from urllib.parse import urlsplit

import pytest

from cases.states import State
from demo.builders import case_in
from directory.models import RiskTier
from tests.cases.factories import UserFactory
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="([^"#]+)"')
# Leaving or changing the session is not browsing.
NOT_FOLLOWED = ("/admin/logout/", "/admin/password_change/")
MAX_PAGES = 250


@pytest.fixture
def desk_with_work(agent, other_agent, manager, security_reviewer):
    """A case in each state a page lists."""
    case_in(State.NEW, agent=agent)
    case_in(State.VERIFYING, agent=agent)
    case_in(State.ESCALATED, agent=other_agent)
    case_in(State.AWAITING_APPROVAL, agent=agent, tier=RiskTier.CONTRACTOR)
    case_in(State.COMPLETED, agent=other_agent)


def _walk(client) -> dict[str, tuple[int, str]]:
    """Every path reachable from the desk home: the status it answered, and the page whose
    link led there."""
    seen: dict[str, tuple[int, str]] = {}
    queue = deque([("/admin/", "(start)")])
    while queue and len(seen) < MAX_PAGES:
        url, linked_from = queue.popleft()
        path = urlsplit(url).path
        if path in seen:
            continue
        response = client.get(url)
        seen[path] = (response.status_code, linked_from)
        if response.status_code in (301, 302):
            queue.append((response.url, path))
            continue
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for href in HREF.findall(response.content.decode()):
            link = unescape(href)
            if link.startswith("/admin/") and not link.startswith(NOT_FOLLOWED):
                queue.append((link, path))
    return seen


@pytest.mark.parametrize(
    "role", ["agent", "manager", "security_reviewer", "admin_user", "staff_without_a_role"]
)
def test_every_link_a_role_is_shown_opens(request, client, desk_with_work, role):
    user = UserFactory() if role == "staff_without_a_role" else request.getfixturevalue(role)
    _signed_in(client, user)
    reached = _walk(client)
    refused = {
        f"{path} (linked from {source})": status
        for path, (status, source) in reached.items()
        if status not in (200, 302)
    }
    assert refused == {}
    # The walk went somewhere (someone without a role only has the desk and the records list).
    assert len(reached) > (1 if role == "staff_without_a_role" else 10)
