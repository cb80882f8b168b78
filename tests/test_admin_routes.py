"""Every role against every admin route: one expected status per cell.

The policy, in words: without a signed-in staff account and a second factor, every page sends
you to the login page. Agents, managers and security reviewers read the desk (cases, evidence,
approvals, policy, directory, audit) and write none of it here; they never see staff accounts,
authenticator devices or login records. The administrator reads everything and manages staff
accounts and devices, but adds and deletes no desk record either: those change only through
the services.
"""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from approvals.services import approval_grant
from audit.models import AuditEvent
from cases import roles
from cases.models import PolicyRule, Queue
from directory.models import ChannelOfRecord, DirectorySession, ManagedDevice
from notices.models import OutboxMessage
from notices.services import notify
from tests.cases.factories import UserFactory, make_agent, make_manager, make_security_reviewer
from tests.helpers import awaiting_approval_case
from tests.test_admin import _signed_in
from verification.models import Evidence

pytestmark = pytest.mark.django_db

OK, FORBIDDEN, LOGIN, ENROL = 200, 403, "login", "enrol"

DESK = (
    "cases.recoverycase",
    "cases.policyrule",
    "cases.queue",
    "directory.identity",
    "directory.manageddevice",
    "directory.directorysession",
    "verification.evidence",
    "approvals.approval",
    "audit.auditevent",
    "notices.notification",
)
# What the embedded backends "sent", codes included: the administrator reads it, nobody writes.
ADMIN_RECORDS = ("notices.outboxmessage",)
STAFF_ADMIN = ("auth.user", "auth.group", "otp_totp.totpdevice", "otp_static.staticdevice")
LOGIN_RECORDS = ("axes.accessattempt", "axes.accesslog", "axes.accessfailurelog")


@pytest.fixture
def rows(clock, agent, manager):
    """One row of every model with object pages."""
    case = awaiting_approval_case(agent=agent)
    approval = approval_grant(case=case, approver=manager, reason="Checked the evidence")
    subject = case.subject
    device = ManagedDevice.objects.create(device_id="LAPTOP-1", owner=subject)
    session = DirectorySession.objects.create(
        identity=subject, client="Laptop", started_at=timezone.now()
    )
    static = StaticDevice.objects.create(user=agent, name="backup codes")
    [notice] = _a_notice(case)
    return {
        "cases.recoverycase": case.pk,
        "cases.policyrule": PolicyRule.objects.first().pk,
        "cases.queue": Queue.objects.first().pk,
        "directory.identity": subject.pk,
        "directory.manageddevice": device.pk,
        "directory.directorysession": session.pk,
        "verification.evidence": Evidence.objects.get(case=case).pk,
        "approvals.approval": approval.pk,
        "audit.auditevent": AuditEvent.objects.first().pk,
        "notices.notification": notice.pk,
        "notices.outboxmessage": OutboxMessage.objects.get(to=notice.address).pk,
        "auth.user": agent.pk,
        "auth.group": Group.objects.get(name=roles.AGENTS).pk,
        "otp_totp.totpdevice": None,  # filled in once the person signing in has one
        "otp_static.staticdevice": static.pk,
    }


def _a_notice(case):
    """A notice to the subject (never sent here: its task runs on commit) and its outbox copy."""
    channel = ChannelOfRecord.objects.create(
        identity=case.subject, kind="sms", address=f"+1555{case.pk:07d}"
    )
    OutboxMessage.objects.create(kind="sms", to=channel.address, body="Your code is 123456")
    return notify(identity=case.subject, template="case_opened", context={}, case=case)


def _routes(rows: dict) -> dict[str, str]:
    """Route name → URL, for every registered model (object pages where a row exists)."""
    routes = {"index": "/admin/"}
    for label in (*DESK, *ADMIN_RECORDS, *STAFF_ADMIN, *LOGIN_RECORDS):
        base = "/admin/{}/{}/".format(*label.split("."))
        routes[f"{label} list"] = base
        routes[f"{label} add"] = f"{base}add/"
        pk = rows.get(label)
        if pk is not None:
            for page in ("change", "delete", "history"):
                routes[f"{label} {page}"] = f"{base}{pk}/{page}/"
    routes["cases.queue permissions"] = f"/admin/cases/queue/{rows['cases.queue']}/permissions/"
    return routes


def _expected_for_desk_role(route: str) -> int:
    label, _, page = route.rpartition(" ")
    if route == "index":
        return OK
    if label in DESK and page in ("list", "change", "history"):
        return OK
    return FORBIDDEN


def _expected_for_administrator(route: str) -> int:
    label, _, page = route.rpartition(" ")
    if label in (*DESK, *ADMIN_RECORDS) and page in ("add", "delete"):
        return FORBIDDEN
    if label in LOGIN_RECORDS and page == "add":
        return FORBIDDEN  # django-axes records attempts itself
    return OK


def _status(client: Client, url: str):
    response = client.get(url)
    if response.status_code == 302 and response.url.startswith("/admin/login/"):
        return LOGIN
    if response.status_code == 302 and response.url.startswith("/admin/enrol/"):
        return ENROL
    return response.status_code


def _mismatches(client: Client, routes: dict[str, str], expected) -> list[str]:
    found = []
    for route, url in routes.items():
        status, want = _status(client, url), expected(route)
        if status != want:
            found.append(f"{route} ({url}): {status}, expected {want}")
    return found


DESK_ROLES = {
    "agent": lambda: make_agent(username="route.agent"),
    "manager": lambda: make_manager(username="route.manager"),
    "security reviewer": lambda: make_security_reviewer(username="route.security"),
}


@pytest.mark.parametrize("role", DESK_ROLES)
def test_desk_roles_read_the_desk_and_nothing_else(client, rows, role):
    user = DESK_ROLES[role]()
    _signed_in(client, user)
    rows["otp_totp.totpdevice"] = user.totpdevice_set.get().pk
    assert _mismatches(client, _routes(rows), _expected_for_desk_role) == []


def test_the_administrator_manages_staff_but_adds_and_deletes_no_desk_record(
    client, rows, admin_user
):
    _signed_in(client, admin_user)
    rows["otp_totp.totpdevice"] = admin_user.totpdevice_set.get().pk
    assert _mismatches(client, _routes(rows), _expected_for_administrator) == []


def _password_only(user):
    """Signed in by the password, holding an authenticator whose code was never given."""
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


# Who is sent where: to the login page, or (no authenticator yet) to enrolment.
WITHOUT_A_SESSION = {
    "nobody signed in": (lambda client: None, LOGIN),
    "staff with an authenticator but no code given": (
        lambda client: _signed_in(
            client, _password_only(make_agent(username="route.no.code")), second_factor=False
        ),
        LOGIN,
    ),
    "staff without a second factor": (
        lambda client: _signed_in(
            client, make_agent(username="route.one.factor"), second_factor=False
        ),
        ENROL,
    ),
    "a superuser without a second factor": (
        lambda client: _signed_in(
            client,
            UserFactory(username="route.root", is_staff=True, is_superuser=True),
            second_factor=False,
        ),
        ENROL,
    ),
    "a signed-in non-staff account": (
        lambda client: _signed_in(client, UserFactory(username="route.employee", is_staff=False)),
        LOGIN,
    ),
}


@pytest.mark.parametrize("who", WITHOUT_A_SESSION)
def test_no_page_opens_without_a_staff_session_and_a_second_factor(client, rows, who):
    sign_in, sent_to = WITHOUT_A_SESSION[who]
    sign_in(client)
    rows["otp_totp.totpdevice"] = 1
    assert _mismatches(client, _routes(rows), lambda route: sent_to) == []


# --- every list page runs in the same number of queries for few rows and for many ----------

DESK_LISTS = [
    "/admin/{}/{}/".format(*label.split("."))
    for label in DESK
    if label != "cases.queue"  # three rows, shipped by migration
]


def _a_desk_day(agent, manager) -> None:
    """One more of everything: a case with evidence, an approval, audit events, devices."""
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason="Checked the evidence")
    ManagedDevice.objects.create(device_id=f"LAPTOP-{case.pk}", owner=case.subject)
    DirectorySession.objects.create(
        identity=case.subject, client="Laptop", started_at=timezone.now()
    )
    _a_notice(case)


@pytest.mark.parametrize("url", DESK_LISTS)
def test_a_list_page_runs_the_same_queries_for_few_and_many_rows(
    client, clock, admin_user, agent, manager, url
):
    _signed_in(client, admin_user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == OK
        return len(captured)

    _a_desk_day(agent, manager)
    few = queries()
    for _ in range(4):
        _a_desk_day(agent, manager)
    assert queries() == few
