import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.models import UserObjectPermission

from audit.models import AuditEvent
from cases import roles
from cases.errors import PermissionRefused
from cases.models import BreakGlassReview, Queue, RecoveryCase
from cases.services import case_claim
from cases.states import State
from directory.models import Identity
from recovery_desk import clock as one_clock
from tests.directory.factories import IdentityFactory

ENROLLED = {"agent1", "agent2", "manager1", "manager2", "security1", "security2", "admin"}
STAFF = ENROLLED | {"agent3"}  # agent3 has no authenticator yet: enrols at first sign-in


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def demo_otp(username: str) -> str:
    out = StringIO()
    call_command("demo_otp", username, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.fixture(autouse=True)
def demo_mode(settings):
    settings.DEMO_MODE = True
    settings.SESSION_COOKIE_SECURE = False  # the demo serves plain http on localhost


@pytest.fixture
def seeded(db):
    return seed()


@pytest.mark.parametrize("command", [("seed_demo",), ("demo_otp", "agent1")])
def test_demo_commands_refuse_to_run_outside_demo_mode(db, settings, command):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="RECOVERY_DESK_DEMO=1"):
        call_command(*command, stdout=StringIO(), stderr=StringIO())
    assert not User.objects.filter(username="admin").exists()


@pytest.mark.parametrize("command", [("seed_demo",), ("demo_otp", "agent1")])
def test_demo_commands_refuse_to_run_where_cookies_are_secure(db, settings, command):
    """RECOVERY_DESK_DEMO=1 left in a production environment must not create a known admin."""
    settings.SESSION_COOKIE_SECURE = True
    with pytest.raises(CommandError, match="cookies are secure"):
        call_command(*command, stdout=StringIO(), stderr=StringIO())
    assert not User.objects.filter(username="admin").exists()


def test_seed_demo_creates_a_case_in_every_state(seeded):
    states = set(RecoveryCase.objects.values_list("state", flat=True))
    assert states == set(State.values)


def test_seed_demo_prints_the_number_of_cases_in_each_state(seeded):
    for state in State.values:
        count = RecoveryCase.objects.filter(state=state).count()
        assert re.search(rf"^\s+{state}\s+{count}$", seeded, re.MULTILINE), state


def test_seed_demo_creates_staff_with_confirmed_demo_totp_devices_but_one_newcomer(seeded):
    devices = TOTPDevice.objects.filter(name="demo", confirmed=True)
    assert set(devices.values_list("user__username", flat=True)) == ENROLLED
    assert not TOTPDevice.objects.filter(user__username="agent3").exists()
    assert set(User.objects.filter(is_staff=True).values_list("username", flat=True)) == STAFF


def test_seeded_staff_sign_in_with_the_printed_password(seeded):
    password = seeded.split("password for all: ")[1].split(")")[0]
    assert all(User.objects.get(username=name).check_password(password) for name in STAFF)


def test_seeded_agents_work_every_queue_through_their_group_not_a_personal_grant(seeded):
    agent = User.objects.get(username="agent1")
    assert all(roles.can_work(agent, queue) for queue in Queue.objects.all())
    assert not UserObjectPermission.objects.filter(user=agent).exists()


def test_seeded_administrator_holds_no_queue_role(seeded):
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert not any(roles.can_work(admin, queue) for queue in Queue.objects.all())


def test_seeded_staff_may_view_cases_and_the_audit_trail_in_the_admin(seeded):
    agent = User.objects.get(username="agent1")
    assert agent.has_perm("cases.view_recoverycase")
    assert agent.has_perm("audit.view_auditevent")


def test_seeded_agent_cannot_claim_the_case_about_their_own_account(seeded):
    agent = User.objects.get(username="agent1")
    own_case = RecoveryCase.objects.get(subject__staff_user=agent, state=State.NEW)
    with pytest.raises(PermissionRefused):
        case_claim(case=own_case, agent=agent)


def test_seed_demo_twice_says_so_and_creates_nothing_more(seeded):
    before = (User.objects.count(), Identity.objects.count(), AuditEvent.objects.count())
    output = seed()
    assert "already here" in output
    assert (User.objects.count(), Identity.objects.count(), AuditEvent.objects.count()) == before


def test_seed_demo_refuses_a_desk_that_already_holds_people(db):
    IdentityFactory()
    with pytest.raises(CommandError, match="empty desk"):
        seed()
    assert not User.objects.filter(username__in=STAFF).exists()


def test_demo_otp_prints_a_code_the_demo_device_accepts(seeded):
    code = demo_otp("manager1")
    device = TOTPDevice.objects.get(user__username="manager1", name="demo")
    assert len(code) == 6
    assert code.isdigit()
    assert device.verify_token(code)


def test_demo_otp_refuses_a_staff_user_seed_demo_did_not_create(seeded):
    carol = User.objects.create_user(username="carol", password="x", is_staff=True)
    TOTPDevice.objects.create(user=carol, name="demo", confirmed=True)
    with pytest.raises(CommandError, match="not a demo user"):
        demo_otp("carol")


def test_demo_otp_prints_the_codes_a_demo_person_would_read_to_the_agent(seeded):
    from verification.totp import totp_match

    lines = demo_otp("emil.berg").splitlines()
    assert [line.split(": ")[0] for line in lines] == ["Old phone", "Hardware key"]
    person = Identity.objects.get(username="emil.berg")
    for line in lines:
        label, code = line.split(": ")
        authenticator = person.authenticators.get(label=label)
        assert totp_match(authenticator, code, at=one_clock.now()) is not None


def test_demo_otp_shows_no_code_of_a_person_seed_demo_did_not_create(seeded):
    IdentityFactory(username="someone.real")
    with pytest.raises(CommandError, match="not a demo user"):
        demo_otp("someone.real")


def _staff(username: str) -> User:
    return User.objects.get(username=username)


def test_the_demo_leaves_each_role_something_waiting_for_them(seeded):
    """The README's walk-through: every demo role finds work on the desk home."""
    from approvals.selectors import awaiting_decision_of
    from cases.review_selectors import escalated_cases, open_reviews
    from cases.roles import queue_roles
    from directory.connectors import local  # noqa: F401 (the seed's directory)
    from recovery_desk import clock

    now = clock.now()
    claimable = RecoveryCase.objects.filter(state=State.NEW).exclude(
        subject__staff_user__username="agent1"
    )
    assert claimable.exists()  # agent1 and agent2: Claim next
    assert RecoveryCase.objects.filter(
        assigned_agent__username="agent1", state=State.VERIFYING
    ).exists()  # agent1: a case to record a code on
    for manager in ("manager1", "manager2"):
        user = _staff(manager)
        waiting = awaiting_decision_of(user=user, approves=queue_roles(user).approves, now=now)
        assert waiting.count() >= 2, manager  # one to approve, one to deny
    security1 = _staff("security1")
    escalations = escalated_cases(user=security1, queue_ids=queue_roles(security1).reviews, now=now)
    assert {e.cause for e in escalations} == {"case.escalate", "case.flag_fraud"}
    assert any(e.release_refusal is None for e in escalations)
    security2 = _staff("security2")
    reviews = list(
        open_reviews(viewer=security2, queue_ids=queue_roles(security2).reviews, now=now)
    )
    assert any(review.overdue for review in reviews)  # on the desk home, highlighted
    assert any(not review.overdue for review in reviews)  # security2 closes it
    assert BreakGlassReview.objects.filter(closed_at__isnull=False).exists()
    assert not TOTPDevice.objects.filter(user__username="agent3").exists()  # enrols


def _printed_recovery_codes(output: str) -> dict[str, list[str]]:
    block = output.split("Recovery codes for playing the caller")[1].split("\n\n")[0]
    rows = [line.split() for line in block.splitlines()[1:] if line.startswith("  ")]
    return {row[0]: row[1:] for row in rows}


def test_seed_demo_prints_recovery_codes_that_prove_a_demo_case(seeded):
    from verification.models import Evidence
    from verification.services import evidence_check

    printed = _printed_recovery_codes(seeded)
    assert set(printed) == {"ivan.petrov", "lena.fischer"}
    assert all(len(codes) == 5 for codes in printed.values())
    case = RecoveryCase.objects.get(subject__username="ivan.petrov", state=State.VERIFYING)
    evidence = evidence_check(
        case=case,
        method="recovery_codes",
        answer={"code": printed["ivan.petrov"][0]},
        actor=case.assigned_agent,
    )
    assert evidence.outcome == Evidence.Outcome.PASSED
    assert "Recovery codes for playing the caller" not in seed()  # shown once only


def test_a_verifying_demo_case_can_be_proved_by_a_callback(seeded, client):
    from cases.selectors import subject_summary
    from verification.models import Evidence
    from verification.services import evidence_check

    case = RecoveryCase.objects.get(subject__username="ivan.petrov", state=State.VERIFYING)
    assert "callback" in case.policy_snapshot["allowed_methods"]
    phones = subject_summary(case=case, now=one_clock.now()).phone_choices
    assert [(p.kind, p.recent) for p in phones] == [("sms", False)]
    evidence = evidence_check(
        case=case,
        method="callback",
        answer={"number_ending": phones[0].ending, "answered": True},
        actor=case.assigned_agent,
    )
    assert (evidence.outcome, evidence.detail["channel"]) == (Evidence.Outcome.PASSED, phones[0].id)
