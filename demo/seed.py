"""Demo data for ``manage.py seed_demo`` and the second factor of its staff (``demo_otp``).

Every case is driven through the real services (cases, verification, approvals), exactly as
staff would move it, by ``demo.builders`` (the builders the tests and the benchmark use too), so
the audit trail and history of the demo are the real thing. Cases that need time to pass (a
hold that ends, a deadline that lapses) are driven a few days in the past with time-machine (a
dev dependency, installed by ``make demo``); without it those two are left out and the summary
says so.

The demo staff share one known password and ``demo_otp`` prints their second factor, so the
seed only ever fills an empty desk: it refuses a database that already holds people or cases.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.conf import settings as guardian_settings

from cases import roles
from cases.models import Queue, RecoveryCase
from cases.states import Kind, State
from demo import builders
from directory.models import (
    AccountState,
    Authenticator,
    ChannelOfRecord,
    DirectorySession,
    Identity,
    ManagedDevice,
    RiskTier,
)
from recovery_desk import clock
from recovery_desk.errors import DomainError
from verification.services import recovery_codes_issue

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 (printed on purpose: demo logins only)
DEMO_DEVICE = "demo"
# How far back the closed cases are driven, so their timeline reads like last week's work.
PAST = timedelta(days=3)
# People with saved recovery codes (both have an open case), and how many each.
RECOVERY_CODE_HOLDERS = ("ivan.petrov", "lena.fischer")
RECOVERY_CODE_COUNT = 5


@dataclass(frozen=True)
class StaffSpec:
    username: str
    first_name: str
    last_name: str
    group: str | None  # None: the superuser, who holds no queue role
    role: str
    # False: no authenticator yet, so signing in leads through enrolment (QR code, first code).
    enrolled: bool = True


STAFF = (
    StaffSpec("agent1", "Avery", "Agent", roles.AGENTS, "service desk agent"),
    StaffSpec("agent2", "Blake", "Agent", roles.AGENTS, "service desk agent"),
    StaffSpec("manager1", "Morgan", "Manager", roles.MANAGERS, "manager (approver)"),
    StaffSpec("manager2", "Riley", "Manager", roles.MANAGERS, "manager (approver)"),
    StaffSpec("security1", "Sam", "Security", roles.SECURITY_REVIEWERS, "security reviewer"),
    StaffSpec(
        "security2",
        "Sidney",
        "Security",
        roles.SECURITY_REVIEWERS,
        "security reviewer (reviews security1's break-glass use)",
    ),
    StaffSpec(
        "agent3",
        "Casey",
        "Newhire",
        roles.AGENTS,
        "service desk agent with no authenticator yet (enrols at first sign-in)",
        enrolled=False,
    ),
    StaffSpec("admin", "Ada", "Admin", None, "administrator (superuser, no queue role)"),
)
STAFF_USERNAMES = frozenset(s.username for s in STAFF)

# Per-queue roles go to the groups, as an organisation runs it: joining a group is the grant.
GROUP_QUEUE_PERMS = {
    roles.AGENTS: (roles.WORK,),
    roles.MANAGERS: (roles.APPROVE,),
    roles.SECURITY_REVIEWERS: (roles.REVIEW, roles.APPROVE),
}
# Every role reads cases, identities, evidence, approvals, policy and the audit trail in the admin.


@dataclass(frozen=True)
class IdentitySpec:
    username: str
    display_name: str
    tier: str = RiskTier.STANDARD
    owner: str | None = None
    account_state: str = AccountState.ACTIVE
    staff_user: str | None = None
    authenticators: tuple[str, ...] = ("Phone",)


IDENTITIES = (
    IdentitySpec("ana.lima", "Ana Lima"),
    IdentitySpec("ben.okafor", "Ben Okafor", RiskTier.CONTRACTOR),
    IdentitySpec("chen.wei", "Chen Wei", RiskTier.PRIVILEGED, account_state=AccountState.DISABLED),
    IdentitySpec("dara.nolan", "Dara Nolan", account_state=AccountState.LOCKED),
    IdentitySpec("emil.berg", "Emil Berg", authenticators=("Old phone", "Hardware key")),
    IdentitySpec("fatima.zahra", "Fatima Zahra"),
    IdentitySpec("gus.moreau", "Gus Moreau"),
    IdentitySpec("avery.agent", "Avery Agent", staff_user="agent1"),
    IdentitySpec(
        "ivan.petrov",
        "Ivan Petrov",
        RiskTier.CONTRACTOR,
        authenticators=("Lost phone", "Backup phone"),
    ),
    IdentitySpec("june.park", "June Park"),
    IdentitySpec("kofi.mensah", "Kofi Mensah", RiskTier.PRIVILEGED),
    IdentitySpec(
        "lena.fischer",
        "Lena Fischer",
        RiskTier.PRIVILEGED,
        authenticators=("Stolen phone", "Hardware key"),
    ),
    IdentitySpec("marta.silva", "Marta Silva", account_state=AccountState.DISABLED),
    IdentitySpec(
        "noah.king", "Noah King", RiskTier.CONTRACTOR, account_state=AccountState.DISABLED
    ),
    IdentitySpec("omar.haddad", "Omar Haddad", RiskTier.PRIVILEGED),
    IdentitySpec("pia.lund", "Pia Lund"),
    IdentitySpec("quinn.ross", "Quinn Ross"),
    IdentitySpec("rosa.diaz", "Rosa Diaz"),
    IdentitySpec("tomas.varga", "Tomas Varga", RiskTier.CONTRACTOR),
    IdentitySpec("uma.rao", "Uma Rao", RiskTier.CONTRACTOR),
    IdentitySpec("vera.holm", "Vera Holm", RiskTier.CONTRACTOR),
    IdentitySpec("walt.berger", "Walt Berger"),
    IdentitySpec(
        "xena.moss", "Xena Moss", RiskTier.CONTRACTOR, authenticators=("Broken phone", "Tablet")
    ),
    IdentitySpec("svc-backup", "Backup service", RiskTier.SERVICE, owner="omar.haddad"),
    IdentitySpec("svc-payroll", "Payroll export service", RiskTier.SERVICE, owner="chen.wei"),
)


# Who answers for whom (the manager of record); service identities have an owner instead.
MANAGERS_OF_RECORD = {
    spec.username: "omar.haddad" if spec.tier != RiskTier.PRIVILEGED else "kofi.mensah"
    for spec in IDENTITIES
    if spec.tier != RiskTier.SERVICE and spec.username not in ("omar.haddad", "kofi.mensah")
}
MANAGERS_OF_RECORD["omar.haddad"] = "kofi.mensah"


class DemoError(DomainError):
    code = "demo_error"


@dataclass
class DemoSummary:
    created: bool
    cases_by_state: dict[str, int]
    notes: list[str] = field(default_factory=list)
    # Saved recovery codes of a few people, in clear this once (only their hashes are kept).
    recovery_codes: dict[str, list[str]] = field(default_factory=dict)


def demo_present() -> bool:
    return TOTPDevice.objects.filter(name=DEMO_DEVICE, user__username__in=STAFF_USERNAMES).exists()


def _ensure_empty_desk() -> None:
    found = {
        # guardian creates its AnonymousUser on migrate; it is not a person.
        "users": User.objects.exclude(username=guardian_settings.ANONYMOUS_USER_NAME).count(),
        "identities": Identity.objects.count(),
        "cases": RecoveryCase.objects.count(),
    }
    if any(found.values()):
        held = ", ".join(f"{n} {what}" for what, n in found.items() if n)
        raise DemoError(
            f"seed_demo only fills an empty desk (its staff share a known password); this "
            f"database already holds {held}. Point RECOVERY_DESK_VAR_DIR or DATABASE_URL at a "
            "fresh database.",
            code="not_empty",
        )


def cases_by_state() -> dict[str, int]:
    counts = dict(
        RecoveryCase.objects.values_list("state").annotate(n=Count("id")).order_by("state")
    )
    return {state: counts.get(state, 0) for state in State.values}


def _ensure_demo_mode() -> None:
    """Known passwords and printed codes belong on a demo served over plain http on this
    machine: never on a desk with secure cookies, whatever else the environment says."""
    if not settings.DEMO_MODE:
        raise DemoError(
            "Demo commands create and reveal known credentials; they run only with "
            "RECOVERY_DESK_DEMO=1 (make demo and make otp set it)."
        )
    if settings.SESSION_COOKIE_SECURE:
        raise DemoError(
            "Demo commands do not run where cookies are secure (a production setting); "
            "make demo serves plain http on localhost with SECURE_COOKIES=0."
        )


def demo_seed() -> DemoSummary:
    """Fill an empty desk with staff, identities and cases in every state; idempotent.

    Composes services, so it runs inside the caller's transaction (the command's durable one).
    """
    _ensure_demo_mode()
    with transaction.atomic():
        if demo_present():
            return DemoSummary(created=False, cases_by_state=cases_by_state())
        _ensure_empty_desk()
        seeder = _Seeder()
        notes = seeder.run()
    return DemoSummary(
        created=True,
        cases_by_state=cases_by_state(),
        notes=notes,
        recovery_codes=seeder.recovery_codes,
    )


class _UnreachableDirectory(builders.UnreachableDirectory):
    """The demo's stand-in for a directory that is down: every call fails."""

    name = "unreachable (demo)"
    message = "The directory did not answer within 10 seconds (demo outage)."


class _Shift:
    """Moves the pinned clock and, where time-machine is installed, the app's clock with it."""

    def __init__(self, pin, traveller) -> None:
        self.pin, self.traveller = pin, traveller

    def shift(self, delta: timedelta) -> None:
        self.pin.shift(delta)
        if self.traveller is not None:
            self.traveller.shift(delta)


@contextmanager
def _in_the_past(start: datetime):
    """Pin the one clock (``recovery_desk.clock``) at ``start``: the services read it. Where
    time-machine is installed (``make demo`` has it), the app's clock follows too, so history
    and creation stamps read like last week's as well."""
    with clock.pinned(start) as pin:
        try:
            import time_machine
        except ImportError:
            yield _Shift(pin, None)
            return
        with time_machine.travel(start, tick=False) as traveller:
            yield _Shift(pin, traveller)


class _Seeder:
    def __init__(self) -> None:
        self.staff: dict[str, User] = {}
        self.people: dict[str, Identity] = {}
        self.ticket = 1000
        self.recovery_codes: dict[str, list[str]] = {}

    def run(self) -> list[str]:
        notes = []
        with _in_the_past(clock.now() - PAST) as traveller:
            self.create_staff()
            self.create_identities()
            self.closed_cases(traveller)
        self.open_cases()
        self.issue_recovery_codes()
        return notes

    def issue_recovery_codes(self) -> None:
        """Saved recovery codes for two people with open cases, so whoever runs the demo can
        play the caller with one (the seed summary prints them)."""
        for username in RECOVERY_CODE_HOLDERS:
            self.recovery_codes[username] = recovery_codes_issue(
                identity=self.people[username], count=RECOVERY_CODE_COUNT
            )

    # -- people ------------------------------------------------------------------------------

    def create_staff(self) -> None:
        for group_name, perms in GROUP_QUEUE_PERMS.items():
            group = Group.objects.get(name=group_name)
            for queue in Queue.objects.all():
                for perm in perms:
                    roles.grant_queue_role(holder=group, perm=perm, queue=queue)
        for spec in STAFF:
            user = User.objects.create_user(
                username=spec.username,
                email=f"{spec.username}@desk.example.test",
                password=DEMO_PASSWORD,
                first_name=spec.first_name,
                last_name=spec.last_name,
                is_staff=True,
                is_superuser=spec.group is None,
            )
            if spec.group is not None:
                user.groups.add(Group.objects.get(name=spec.group))
            if spec.enrolled:
                TOTPDevice.objects.create(user=user, name=DEMO_DEVICE, confirmed=True)
            self.staff[spec.username] = user

    def create_identities(self) -> None:
        now = timezone.now()
        for number, spec in enumerate(IDENTITIES, start=1):
            person = Identity.objects.create(
                username=spec.username,
                display_name=spec.display_name,
                employee_id="" if spec.tier == RiskTier.SERVICE else f"E{1000 + number}",
                risk_tier=spec.tier,
                owner=self.people[spec.owner] if spec.owner else None,
                account_state=spec.account_state,
                staff_user=self.staff[spec.staff_user] if spec.staff_user else None,
            )
            on_record = now - timedelta(days=200)
            channels = [
                ChannelOfRecord.objects.create(
                    identity=person,
                    kind=ChannelOfRecord.Kind.EMAIL,
                    address=f"{spec.username}@example.test",
                    verified_at=on_record,
                ),
                # Long on record: a callback to it counts (a number added in the last 14 days
                # would not).
                ChannelOfRecord.objects.create(
                    identity=person,
                    kind=ChannelOfRecord.Kind.SMS,
                    address=f"+1 202 555 01{number:02d}",
                    verified_at=on_record,
                ),
            ]
            ChannelOfRecord.objects.filter(pk__in=[c.pk for c in channels]).update(
                added_at=on_record
            )
            for label in spec.authenticators:
                Authenticator.objects.create(identity=person, label=label)
            if spec.tier == RiskTier.PRIVILEGED:
                ManagedDevice.objects.create(device_id=f"LAPTOP-{number:04d}", owner=person)
            for client, hours_ago in (("Laptop browser", 30), ("Mail app on phone", 6)):
                DirectorySession.objects.create(
                    identity=person, client=client, started_at=now - timedelta(hours=hours_ago)
                )
            self.people[spec.username] = person
        for username, manager in MANAGERS_OF_RECORD.items():
            person = self.people[username]
            person.manager = self.people[manager]
            person.save(update_fields=["manager"])

    # -- cases (each step one real service call, through demo.builders) ----------------------

    def case(
        self,
        state: str,
        username: str,
        kind: str = Kind.PASSWORD_RESET,
        *,
        opener: User,
        agent: User | None = None,
        replace: str | None = None,
        **kwargs,
    ) -> RecoveryCase:
        """A case about ``username`` driven to ``state`` (``builders.case_in``), with the next
        ticket number; ``replace`` names the authenticator a re-bind replaces, by label."""
        subject = self.people[username]
        self.ticket += 1
        return builders.case_in(
            state,
            agent=agent or opener,
            opener=opener,
            subject=subject,
            kind=kind,
            replaced_authenticator=(
                subject.authenticators.get(label=replace) if replace is not None else None
            ),
            external_ticket=f"INC-{self.ticket}",
            **kwargs,
        )

    def closed_cases(self, traveller) -> None:
        agent1, agent2 = self.staff["agent1"], self.staff["agent2"]
        manager1, manager2 = self.staff["manager1"], self.staff["manager2"]

        # Opened first: its claim deadline lapses once the clock is moved on below.
        never_claimed = self.case(State.NEW, "fatima.zahra", opener=agent1)

        # Standard: no approval, no hold.
        self.case(State.COMPLETED, "ana.lima", opener=agent2, agent=agent1)

        case = self.case(
            State.AWAITING_APPROVAL, "chen.wei", Kind.REACTIVATION, opener=agent2, agent=agent1
        )
        builders.deny(
            case,
            manager2,
            reason="The account was disabled by HR on purpose; reactivation needs HR's ticket.",
        )

        case = self.case(
            State.VERIFYING, "dara.nolan", Kind.REACTIVATION, opener=agent1, agent=agent2
        )
        builders.reject(
            case,
            agent2,
            reason="The caller could not use any enrolled authenticator; asked to come in person.",
        )

        case = self.case(
            State.VERIFYING,
            "emil.berg",
            Kind.MFA_REBIND,
            opener=agent2,
            agent=agent1,
            replace="Old phone",
        )
        builders.dispute(
            case,
            statement="This was not me: I still have my phone and never called the desk.",
        )

        case = self.case(State.AWAITING_APPROVAL, "ben.okafor", opener=agent2, agent=agent1)
        case = builders.approve(case, manager1, reason="Vendor contract is current.")
        builders.end_hold(case, traveller, late=timedelta(minutes=1))
        builders.executed(case, agent1)

        # Break-glass last week: one reviewed by another reviewer (not justified), one whose
        # review nobody closed: it is overdue, escalated by the sweep, on security's desk.
        security1, security2 = self.staff["security1"], self.staff["security2"]
        case = self.case(State.AWAITING_APPROVAL, "tomas.varga", opener=agent1, agent=agent2)
        builders.break_glass(
            case,
            security1,
            reason="approvers_unreachable",
            justification="Both managers were on a flight; the vendor had a go-live that night.",
        )
        builders.executed(case, agent2)
        builders.close_review(
            builders.review_of(case),
            security2,
            outcome="not_justified",
            findings="A manager was reachable by phone; waiting two hours would have been fine.",
            follow_up="Remind the team of the on-call approver list; no access to revoke.",
        )
        case = self.case(State.AWAITING_APPROVAL, "uma.rao", opener=agent2, agent=agent1)
        builders.break_glass(
            case,
            security1,
            reason="incident_response",
            justification="Incident responder locked out during an active ransomware response.",
        )
        builders.executed(case, agent1)
        overdue_review = builders.review_of(case)

        traveller.shift(timedelta(hours=25))
        builders.expire(never_claimed)
        builders.review_overdue(overdue_review, traveller)

        case = self.case(
            State.EXECUTION_FAILED,
            "quinn.ross",
            opener=agent2,
            agent=agent2,
            failing_directory=_UnreachableDirectory(),
        )
        builders.abandon(
            case,
            agent2,
            reason="The directory account was migrated meanwhile; the caller opens a new case.",
        )

    def open_cases(self) -> None:
        agent1, agent2 = self.staff["agent1"], self.staff["agent2"]
        manager1, manager2 = self.staff["manager1"], self.staff["manager2"]
        security1 = self.staff["security1"]

        # agent1's own account: agent1 may neither claim nor approve it. Opened first, so the
        # list (newest first) shows agent1 a case they can claim at the top.
        self.case(State.NEW, "avery.agent", opener=agent2)
        self.case(State.NEW, "gus.moreau", opener=agent2)
        self.case(State.NEW, "omar.haddad", Kind.MFA_REBIND, opener=agent2)

        self.case(
            State.VERIFYING,
            "ivan.petrov",
            Kind.MFA_REBIND,
            opener=agent2,
            agent=agent1,
            replace="Lost phone",
        )

        # Wrong codes up to the failure limit: the system escalates it.
        self.case(State.ESCALATED, "june.park", opener=agent2, agent=agent1)
        # The agent suspects the caller is being coached: escalated by hand.
        case = self.case(State.VERIFYING, "walt.berger", opener=agent1, agent=agent2)
        builders.flag_fraud(
            case,
            agent2,
            reason="Someone in the background was telling the caller what to answer.",
        )

        # Waiting for a manager: one approve, the other deny (or each one of these).
        self.case(State.AWAITING_APPROVAL, "vera.holm", opener=agent2, agent=agent1)
        self.case(
            State.AWAITING_APPROVAL,
            "xena.moss",
            Kind.MFA_REBIND,
            opener=agent1,
            agent=agent2,
            replace="Broken phone",
        )
        case = self.case(State.AWAITING_APPROVAL, "omar.haddad", opener=agent1, agent=agent2)
        builders.approve(case, manager2, reason="Called back on the number of record.")

        case = self.case(State.AWAITING_APPROVAL, "kofi.mensah", opener=agent2, agent=agent1)
        builders.approve(case, manager1, reason="Called back on the number of record.")

        case = self.case(State.AWAITING_APPROVAL, "svc-backup", opener=agent1, agent=agent2)
        builders.approve(case, security1, reason="Owner confirmed the rotation.")

        case = self.case(
            State.AWAITING_APPROVAL,
            "lena.fischer",
            Kind.MFA_REBIND,
            opener=agent2,
            agent=agent1,
            replace="Stolen phone",
        )
        builders.approve(case, manager1, reason="Theft report INC on file.")
        builders.approve(case, manager2, reason="Hardware key check passed.")

        self.case(
            State.AWAITING_APPROVAL, "marta.silva", Kind.REACTIVATION, opener=agent2, agent=agent1
        )

        # Sent to the directory: the worker of `make demo` carries it out once it starts.
        self.case(State.EXECUTING, "pia.lund", opener=agent2, agent=agent1)

        self.case(
            State.EXECUTION_FAILED,
            "rosa.diaz",
            opener=agent1,
            agent=agent2,
            failing_directory=_UnreachableDirectory(),
        )

        case = self.case(
            State.AWAITING_APPROVAL, "noah.king", Kind.REACTIVATION, opener=agent2, agent=agent1
        )
        builders.break_glass(
            case,
            security1,
            reason="service_outage",  # cases.models.BreakGlassReason.SERVICE_OUTAGE
            justification="Vendor on-call engineer is needed for a live payments outage.",
        )


# -- demo_otp ---------------------------------------------------------------------------------


def demo_otp_code(*, username: str) -> tuple[str, int]:
    """The current code of a seeded staff user's demo device, and seconds until it changes.

    Only the staff ``seed_demo`` created: a real staff member's second factor is never shown.
    """
    _ensure_demo_mode()
    device = TOTPDevice.objects.filter(
        user__username=username, name=DEMO_DEVICE, confirmed=True
    ).first()
    if username not in STAFF_USERNAMES or device is None:
        raise DemoError(
            f"{username!r} is not a demo user created by seed_demo; demo_otp shows no one else's "
            "second factor.",
            code="not_demo_user",
        )
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    seconds_left = device.step - int(totp.time - device.t0) % device.step
    return str(totp.token()).zfill(device.digits), seconds_left


def demo_subject_codes(*, username: str) -> list[tuple[str, str]]:
    """What each active authenticator of a seeded identity shows now, so whoever runs the demo
    can play the caller and read a code to the agent. Seeded identities only."""
    _ensure_demo_mode()
    known = {spec.username for spec in IDENTITIES}
    authenticators = Authenticator.objects.filter(
        identity__username=username, revoked_at__isnull=True
    ).order_by("pk")
    if username not in known:
        raise DemoError(
            f"{username!r} is not a demo user or person seed_demo created; demo_otp shows no "
            "one else's codes.",
            code="not_demo_subject",
        )
    return [(a.label, builders.current_code(a)) for a in authenticators]


def render_summary(summary: DemoSummary) -> str:
    lines = [
        "Demo data created." if summary.created else "Demo data is already here; nothing changed.",
        "",
        "Cases by state:",
        *(f"  {state:<18} {n}" for state, n in summary.cases_by_state.items()),
        f"  {'total':<18} {sum(summary.cases_by_state.values())}",
        "",
        f"Staff logins (password for all: {DEMO_PASSWORD}):",
        *(f"  {s.username:<10} {s.role}" for s in STAFF),
        "",
        "Second factor: make otp user=<username> prints the current code.",
        "Playing the caller: make otp user=<person> (e.g. ivan.petrov) prints the codes their",
        "authenticators show now, to read out to the agent.",
        *(
            [
                "",
                "Recovery codes for playing the caller (each works once; shown only now):",
                *(
                    f"  {username:<13} {' '.join(codes)}"
                    for username, codes in summary.recovery_codes.items()
                ),
            ]
            if summary.recovery_codes
            else []
        ),
        *(f"Note: {note}" for note in summary.notes),
    ]
    return "\n".join(lines)
