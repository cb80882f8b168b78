"""Benchmark the case transitions: services vs. raw SQL, and concurrent claim-next.

    DATABASE_URL=postgres://... .venv/bin/python bench/transitions.py \
        [--cases 100000] [--lifecycles 300] [--claimers 4] [--claims 2000] [--profile [N]]

1. Seeds ``--cases`` recovery cases in mixed states (not measured). It TRUNCATEs the tables it
   seeds first, so it is safe to re-run; the staff users ``bench.*`` are reused.
2. (a) Runs ``--lifecycles`` privileged MFA re-binds (2 approvals, 24 h cooling-off, the clock
   shifted with time_machine) through the services, alternating with the same row writes per
   step as hand-written SQL in the same process, and prints lifecycles/s for both.
   (b) Runs ``--claimers`` processes (one DB connection each) calling ``case_claim_next`` on a
   queue with many new cases until ``--claims`` cases are taken; counts double claims.
3. The last line is ``ratio=<services/raw> claims_per_s=<int> double_claims=<int>``.

See bench/README.md for what each figure means.
"""

# ruff: noqa: E402  (Django must be configured before the project's modules are imported)

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "recovery_desk.settings"

import django

django.setup()

import time_machine
from django.contrib.auth.models import Group, User
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Approval
from approvals.services import approval_grant
from audit.models import AuditEvent
from cases import roles
from cases.models import PolicyRule, Queue, RecoveryCase
from cases.policy import PinnedPolicy
from cases.services import (
    case_claim,
    case_claim_next,
    case_end_hold,
    case_execute,
    case_open,
    case_verify,
)
from cases.states import TERMINAL_STATES, Channel, Kind, State
from directory.models import (
    Authenticator,
    ChannelOfRecord,
    DirectorySession,
    Identity,
    ManagedDevice,
    RiskTier,
)
from verification.models import Evidence
from verification.services import evidence_check_totp
from verification.totp import totp_code_at

RNG_SEED = 20261129
WARMUP = 3
CLAIM_QUEUE = Kind.PASSWORD_RESET
LIFECYCLE_KIND = Kind.MFA_REBIND
LIFECYCLE_TIER = RiskTier.PRIVILEGED
STEPS = ("open", "claim", "evidence", "verify", "approve", "end_hold", "execute")

# Share of seeded cases per state (percent); tiers likewise.
STATE_MIX = (
    (State.NEW, 20),
    (State.VERIFYING, 8),
    (State.ESCALATED, 2),
    (State.AWAITING_APPROVAL, 5),
    (State.COOLING_OFF, 5),
    (State.READY, 5),
    (State.COMPLETED, 40),
    (State.REJECTED, 5),
    (State.CANCELLED, 5),
    (State.EXPIRED, 5),
)
TIER_MIX = ((RiskTier.STANDARD, 70), (RiskTier.CONTRACTOR, 15), (RiskTier.PRIVILEGED, 15))
KINDS = (Kind.PASSWORD_RESET, Kind.MFA_REBIND, Kind.REACTIVATION)

# Everything the seed owns: truncated (with CASCADE) before every run.
SEEDED_MODELS = (
    Approval,
    AuditEvent,
    Evidence,
    RecoveryCase,
    Authenticator,
    ChannelOfRecord,
    DirectorySession,
    ManagedDevice,
    Identity,
)
# Tables whose row counts show what one lifecycle writes.
WRITTEN_MODELS = (
    RecoveryCase,
    RecoveryCase.history.model,
    AuditEvent,
    Evidence,
    Evidence.history.model,
    Approval,
    Approval.history.model,
    Authenticator.history.model,
    DirectorySession.history.model,
)


def _seeded_tables() -> list[str]:
    tables = []
    for model in SEEDED_MODELS:
        tables.append(model._meta.db_table)
        if hasattr(model, "history"):
            tables.append(model.history.model._meta.db_table)
    return tables


def _refuse_unless_postgresql() -> None:
    if connection.vendor != "postgresql":
        print(
            f"bench/transitions.py measures PostgreSQL only; DATABASE_URL points at "
            f"{connection.vendor}. Set DATABASE_URL=postgres://user@host:5432/dbname.",
            file=sys.stderr,
        )
        sys.exit(2)


# --- staff -------------------------------------------------------------------------------


@dataclass
class Staff:
    agents: list[User]  # agents[0] works the lifecycles; agents[:claimers] claim
    opener: User
    managers: list[User]


def _staff_user(username: str, group: Group, perm: str, queues: list[Queue]) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(group)
    for queue in queues:
        roles.grant_queue_role(holder=user, perm=perm, queue=queue)
    return user


def ensure_staff(*, claimers: int, approvals: int) -> Staff:
    queues = list(Queue.objects.all())
    agents_group = Group.objects.get(name=roles.AGENTS)
    managers_group = Group.objects.get(name=roles.MANAGERS)
    agents = [
        _staff_user(f"bench.agent{n}", agents_group, roles.WORK, queues)
        for n in range(max(claimers, 1))
    ]
    opener = _staff_user("bench.opener", agents_group, roles.WORK, queues)
    managers = [
        _staff_user(f"bench.manager{n}", managers_group, roles.APPROVE, queues)
        for n in range(approvals)
    ]
    return Staff(agents=agents, opener=opener, managers=managers)


# --- seed --------------------------------------------------------------------------------

CASE_COLUMNS = (
    "id",
    "state",
    "kind",
    "intake_channel",
    "external_ticket",
    "risk_tier",
    "policy_version",
    "policy_snapshot",
    "failed_checks",
    "break_glass_justification",
    "closing_reason",
    "opened_at",
    "claimed_at",
    "escalated_at",
    "released_at",
    "verified_at",
    "approved_at",
    "cooling_off_at",
    "ready_at",
    "closed_at",
    "hold_until",
    "expires_at",
    "assigned_agent_id",
    "opened_by_id",
    "verified_by_id",
    "policy_rule_id",
    "queue_id",
    "subject_id",
)
IDENTITY_COLUMNS = (
    "id",
    "username",
    "display_name",
    "employee_id",
    "risk_tier",
    "account_state",
    "password_hash",
    "created_at",
)


def _weighted(rng: random.Random, mix) -> str:
    values, weights = zip(*mix, strict=True)
    return rng.choices(values, weights)[0]


def _consistent_state(state: str, policy: PinnedPolicy) -> str:
    """Skip the stages the policy skips, as the services do."""
    if state == State.AWAITING_APPROVAL and policy.approvals_required == 0:
        state = State.COOLING_OFF
    if state == State.COOLING_OFF and policy.cooling_off <= timedelta(0):
        state = State.READY
    return state


def _case_row(*, case_id, subject_id, kind, tier, state, rng, now, agent_ids, policies, queues):
    rule, policy, snapshot = policies[(kind, tier)]
    state = _consistent_state(state, policy)
    terminal = state in TERMINAL_STATES
    age = timedelta(days=rng.uniform(1, 365)) if terminal else timedelta(hours=rng.uniform(0.1, 20))
    opened = now - age
    gap = age / 6
    row = dict.fromkeys(CASE_COLUMNS)
    row.update(
        id=case_id,
        state=state,
        kind=kind,
        intake_channel=rng.choice((Channel.PHONE, Channel.CHAT, Channel.WALK_IN, Channel.TICKET)),
        external_ticket=f"INC-{case_id}",
        risk_tier=tier,
        policy_version=rule.version,
        policy_snapshot=snapshot,
        failed_checks=3 if state == State.ESCALATED else 0,
        break_glass_justification="",
        closing_reason="",
        opened_at=opened,
        opened_by_id=rng.choice(agent_ids),
        policy_rule_id=rule.pk,
        queue_id=queues[kind],
        subject_id=subject_id,
        expires_at=opened + policy.claim_deadline,
    )
    claimed = state != State.NEW and (
        state not in (State.CANCELLED, State.EXPIRED) or rng.random() < 0.5
    )
    if claimed:
        row.update(
            assigned_agent_id=rng.choice(agent_ids),
            claimed_at=opened + gap,
            expires_at=now + policy.verify_deadline,
        )
    if state == State.ESCALATED:
        row.update(escalated_at=opened + 2 * gap, expires_at=None)
    if state in (State.AWAITING_APPROVAL, State.COOLING_OFF, State.READY, State.COMPLETED):
        row.update(
            verified_by_id=row["assigned_agent_id"],
            verified_at=opened + 2 * gap,
            expires_at=now + policy.approval_deadline,
        )
    if state in (State.COOLING_OFF, State.READY, State.COMPLETED):
        if policy.approvals_required:
            row["approved_at"] = opened + 3 * gap
        if policy.cooling_off > timedelta(0):
            row["cooling_off_at"] = opened + 3 * gap
            row["hold_until"] = opened + 3 * gap + policy.cooling_off
            row["expires_at"] = None
    if state in (State.READY, State.COMPLETED):
        row.update(ready_at=opened + 4 * gap, expires_at=now + policy.ready_deadline)
    if terminal:
        row["closed_at"] = opened + 5 * gap
        if state == State.REJECTED:
            row["closing_reason"] = "Evidence did not hold up."
        elif state == State.CANCELLED:
            row["closing_reason"] = "This was not me."
    return tuple(row[c] for c in CASE_COLUMNS)


def _copy(table: str, columns: tuple[str, ...], rows) -> None:
    with connection.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def _history_columns(model) -> list[str]:
    """Columns a simple-history row copies from its model (everything but history_*)."""
    return [
        f.column
        for f in model.history.model._meta.concrete_fields
        if not f.name.startswith("history_")
    ]


def _history_from_table_sql(model, where: str, history_date: str = "%s") -> str:
    """INSERT ... SELECT of the history rows of ``model`` rows matching ``where``.

    Parameters: history_date (unless given as SQL), history_type, then those of ``where``.
    """
    cols = ", ".join(_history_columns(model))
    return (
        f"INSERT INTO {model.history.model._meta.db_table} "
        f"({cols}, history_date, history_type, history_user_id) "
        f"SELECT {cols}, {history_date}, %s, NULL FROM {model._meta.db_table} WHERE {where}"
    )


def seed(*, cases: int, claims: int, claimers: int, staff: Staff) -> dict[str, int]:
    rng = random.Random(RNG_SEED)
    now = timezone.now()
    policies = {
        (rule.kind, rule.risk_tier): (
            rule,
            pinned := PinnedPolicy.from_rule(rule),
            json.dumps(pinned.to_snapshot()),
        )
        for rule in PolicyRule.objects.all()
    }
    queues = dict(Queue.objects.values_list("kind", "pk"))
    agent_ids = [u.pk for u in (*staff.agents, staff.opener)]

    identities, case_rows = [], []

    def identity(tier: str) -> int:
        ident_id = len(identities) + 1
        identities.append(
            (
                ident_id,
                f"bench.subject{ident_id}",
                f"Subject {ident_id}",
                f"E{ident_id:07d}",
                tier,
                "active",
                "",
                now - timedelta(days=400),
            )
        )
        return ident_id

    # Two cases per identity, of two different kinds: (subject, kind) never repeats, so the
    # "one open case per subject and kind" constraint holds whatever the states.
    subject = None
    for n in range(cases):
        if n % 2 == 0:
            subject = identity(_weighted(rng, TIER_MIX))
        tier = identities[subject - 1][4]
        case_rows.append(
            _case_row(
                case_id=n + 1,
                subject_id=subject,
                kind=KINDS[n % 3],
                tier=tier,
                state=_weighted(rng, STATE_MIX),
                rng=rng,
                now=now,
                agent_ids=agent_ids,
                policies=policies,
                queues=queues,
            )
        )
    state_at = CASE_COLUMNS.index("state")
    kind_at = CASE_COLUMNS.index("kind")
    claimable = sum(1 for r in case_rows if r[state_at] == State.NEW and r[kind_at] == CLAIM_QUEUE)
    top_up = max(0, claims + 10 * claimers - claimable)
    for _ in range(top_up):
        case_rows.append(
            _case_row(
                case_id=len(case_rows) + 1,
                subject_id=identity(RiskTier.STANDARD),
                kind=CLAIM_QUEUE,
                tier=RiskTier.STANDARD,
                state=State.NEW,
                rng=rng,
                now=now,
                agent_ids=agent_ids,
                policies=policies,
                queues=queues,
            )
        )

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(_seeded_tables())} RESTART IDENTITY CASCADE")
        _copy(Identity._meta.db_table, IDENTITY_COLUMNS, identities)
        _copy(RecoveryCase._meta.db_table, CASE_COLUMNS, case_rows)
        for model in (Identity, RecoveryCase):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        # Each seeded case gets its creation history row and its case.open audit event, so the
        # tables the lifecycles append to have the size they would have.
        cursor.execute(_history_from_table_sql(RecoveryCase, "TRUE", "opened_at"), ["+"])
        cursor.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor_id, actor_label, "
            "action, case_id, identity_id, old_state, new_state, detail) "
            "SELECT c.opened_at, c.opened_by_id, u.username, 'case.open', c.id, c.subject_id, "
            "'', 'new', '{}'::jsonb FROM cases_recoverycase c JOIN auth_user u "
            "ON u.id = c.opened_by_id ORDER BY c.opened_at, c.id"
        )
    with connection.cursor() as cursor:  # planner statistics for the new rows
        for model in (Identity, RecoveryCase, RecoveryCase.history.model, AuditEvent):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return {"cases": len(case_rows), "identities": len(identities), "top_up": top_up}


# --- lifecycle fixtures (created before timing) --------------------------------------------


@dataclass
class Fixture:
    subject: Identity
    lost: Authenticator  # being replaced: cannot serve as evidence
    spare: Authenticator  # the evidence


def make_fixtures(prefix: str, count: int) -> list[Fixture]:
    subjects = Identity.objects.bulk_create(
        Identity(
            username=f"bench.{prefix}{n}",
            display_name=f"Privileged {prefix}{n}",
            employee_id=f"P-{prefix}{n}",
            risk_tier=LIFECYCLE_TIER,
        )
        for n in range(count)
    )
    authenticators = Authenticator.objects.bulk_create(
        Authenticator(identity=s, label=label) for s in subjects for label in ("lost", "spare")
    )
    started = timezone.now() - timedelta(hours=1)
    DirectorySession.objects.bulk_create(
        DirectorySession(identity=s, client="Laptop browser", started_at=started) for s in subjects
    )
    return [
        Fixture(subject=s, lost=authenticators[2 * n], spare=authenticators[2 * n + 1])
        for n, s in enumerate(subjects)
    ]


# --- one lifecycle through the services ---------------------------------------------------


class StepTimer:
    """Wall time per step; with ``capture`` set, the SQL statements per step instead."""

    def __init__(self, capture: bool = False):
        self.seconds: dict[str, float] = defaultdict(float)
        self.queries: dict[str, int] = defaultdict(int)
        self.capture = capture
        self._name = ""

    def __call__(self, name: str):
        self._name = name
        return self

    def __enter__(self):
        if self.capture:
            self._ctx = CaptureQueriesContext(connection)
            self._ctx.__enter__()
        self._t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds[self._name] += time.perf_counter() - self._t0
        if self.capture:
            self._ctx.__exit__(*exc)
            self.queries[self._name] += len(self._ctx.captured_queries)


def lifecycle_services(fx: Fixture, staff: Staff, clock, hold: timedelta, step: StepTimer):
    agent = staff.agents[0]
    with step("open"):
        case = case_open(
            actor=staff.opener,
            subject=fx.subject,
            kind=LIFECYCLE_KIND,
            intake_channel=Channel.PHONE,
            replaced_authenticator=fx.lost,
        )
    with step("claim"):
        case = case_claim(case=case, agent=agent)
    with step("evidence"):
        token = totp_code_at(fx.spare, at=timezone.now())
        evidence = evidence_check_totp(case=case, authenticator=fx.spare, token=token, actor=agent)
    with step("verify"):
        case = case_verify(case=case, actor=agent)
    with step("approve"):
        for manager in staff.managers:
            approval_grant(case=case, approver=manager, reason="Spoke to the subject's manager")
    clock.shift(hold)
    with step("end_hold"):
        case = case_end_hold(case=case)
    with step("execute"):
        case = case_execute(case=case, actor=agent)
    if evidence.outcome != Evidence.Outcome.PASSED or case.state != State.COMPLETED:
        raise RuntimeError(f"{case.reference} ended {case.state} (evidence {evidence.outcome})")


# --- the same writes, by hand ---------------------------------------------------------------


class RawLifecycle:
    """Per step, in one transaction, exactly the rows the services write (model row UPDATE or
    INSERT, its simple-history row, its audit row), with no reads and no guards."""

    def __init__(self, staff: Staff):
        self.staff = staff
        rule = PolicyRule.objects.get(kind=LIFECYCLE_KIND, risk_tier=LIFECYCLE_TIER)
        self.rule = rule
        self.policy = PinnedPolicy.from_rule(rule)
        self.snapshot = json.dumps(self.policy.to_snapshot())
        self.queue_id = Queue.objects.get(kind=LIFECYCLE_KIND).pk
        self.case_hist = _history_from_table_sql(RecoveryCase, "id = %s")
        self.evidence_hist = _history_from_table_sql(Evidence, "id = %s")
        self.approval_hist = _history_from_table_sql(Approval, "id = %s")
        self.auth_hist = _history_from_table_sql(Authenticator, "id = %s")
        self.session_hist = _history_from_table_sql(DirectorySession, "id = ANY(%s)")

    @staticmethod
    def _audit(cursor, now, actor, action, case_id, identity_id, old="", new="", detail=None):
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_id, actor_label, action, case_id, "
            "identity_id, old_state, new_state, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
            [
                now,
                actor.pk if actor else None,
                actor.get_username() if actor else "system",
                action,
                case_id,
                identity_id,
                old,
                new,
                json.dumps(detail or {}),
            ],
        )

    def _move(self, cursor, case_id, sets: dict, old: str, new: str, now) -> None:
        assignments = ", ".join(f"{column} = %s" for column in ("state", *sets))
        cursor.execute(
            f"UPDATE cases_recoverycase SET {assignments} WHERE id = %s",
            [new, *sets.values(), case_id],
        )
        cursor.execute(self.case_hist, [now, "~", case_id])

    def run(self, fx: Fixture, clock, hold: timedelta, step: StepTimer) -> None:
        agent, opener, policy = self.staff.agents[0], self.staff.opener, self.policy
        sid = fx.subject.pk
        with step("open"), transaction.atomic(), connection.cursor() as c:
            now = timezone.now()
            c.execute(
                "INSERT INTO cases_recoverycase (state, kind, intake_channel, external_ticket, "
                "risk_tier, policy_version, policy_snapshot, failed_checks, "
                "break_glass_justification, closing_reason, opened_at, expires_at, "
                "opened_by_id, policy_rule_id, queue_id, replaced_authenticator_id, subject_id) "
                "VALUES ('new', %s, 'phone', '', %s, %s, %s::jsonb, 0, '', '', %s, %s, "
                "%s, %s, %s, %s, %s) RETURNING id",
                [
                    LIFECYCLE_KIND,
                    LIFECYCLE_TIER,
                    self.rule.version,
                    self.snapshot,
                    now,
                    now + policy.claim_deadline,
                    opener.pk,
                    self.rule.pk,
                    self.queue_id,
                    fx.lost.pk,
                    sid,
                ],
            )
            case_id = c.fetchone()[0]
            c.execute(self.case_hist, [now, "+", case_id])
            detail = {"policy_version": self.rule.version, "intake_channel": "phone"}
            self._audit(c, now, opener, "case.open", case_id, sid, new="new", detail=detail)
        with step("claim"), transaction.atomic(), connection.cursor() as c:
            now = timezone.now()
            sets = {
                "assigned_agent_id": agent.pk,
                "claimed_at": now,
                "expires_at": now + policy.verify_deadline,
            }
            self._move(c, case_id, sets, "new", "verifying", now)
            self._audit(c, now, agent, "case.claim", case_id, sid, "new", "verifying")
        with step("evidence"), transaction.atomic(), connection.cursor() as c:
            now = timezone.now()
            c.execute(
                "INSERT INTO verification_evidence (case_id, method, factor, outcome, score, "
                "authenticator_id, checked_by_id, checked_at) "
                "VALUES (%s, 'totp', 'enrolled_authenticator', 'passed', 2, %s, %s, %s) "
                "RETURNING id",
                [case_id, fx.spare.pk, agent.pk, now],
            )
            evidence_id = c.fetchone()[0]
            c.execute(self.evidence_hist, [now, "+", evidence_id])
            c.execute(
                "UPDATE directory_authenticator SET last_t = %s WHERE id = %s",
                [int(now.timestamp()) // fx.spare.step, fx.spare.pk],
            )
            c.execute(self.auth_hist, [now, "~", fx.spare.pk])
            detail = {"evidence_id": evidence_id, "method": "totp", "outcome": "passed"}
            self._audit(c, now, agent, "evidence.passed", case_id, sid, detail=detail)
        with step("verify"), transaction.atomic(), connection.cursor() as c:
            now = timezone.now()
            sets = {
                "verified_by_id": agent.pk,
                "verified_at": now,
                "expires_at": now + policy.approval_deadline,
            }
            self._move(c, case_id, sets, "verifying", "awaiting_approval", now)
            detail = {"score": 2, "methods": ["totp"]}
            self._audit(
                c, now, agent, "case.verify", case_id, sid, "verifying", "awaiting_approval", detail
            )
        with step("approve"):
            for n, manager in enumerate(self.staff.managers, start=1):
                with transaction.atomic(), connection.cursor() as c:
                    now = timezone.now()
                    c.execute(
                        "INSERT INTO approvals_approval (case_id, approver_id, decision, reason, "
                        "decided_at, valid_until, case_opened_by_id, case_verified_by_id) "
                        "VALUES (%s, %s, 'approved', %s, %s, %s, %s, %s) RETURNING id",
                        [
                            case_id,
                            manager.pk,
                            "Spoke to the subject's manager",
                            now,
                            now + policy.approval_deadline,
                            opener.pk,
                            agent.pk,
                        ],
                    )
                    approval_id = c.fetchone()[0]
                    c.execute(self.approval_hist, [now, "+", approval_id])
                    detail = {
                        "approval_id": approval_id,
                        "approvals": n,
                        "of": policy.approvals_required,
                    }
                    if n < policy.approvals_required:
                        self._audit(c, now, manager, "approval.grant", case_id, sid, detail=detail)
                        continue
                    sets = {
                        "approved_at": now,
                        "cooling_off_at": now,
                        "hold_until": now + policy.cooling_off,
                        "expires_at": None,
                    }
                    self._move(c, case_id, sets, "awaiting_approval", "cooling_off", now)
                    self._audit(
                        c, now, manager, "case.approve", case_id, sid,
                        "awaiting_approval", "cooling_off", detail,
                    )  # fmt: skip
        clock.shift(hold)
        with step("end_hold"), transaction.atomic(), connection.cursor() as c:
            now = timezone.now()
            sets = {"ready_at": now, "expires_at": now + policy.ready_deadline}
            self._move(c, case_id, sets, "cooling_off", "ready", now)
            self._audit(c, now, None, "case.end_hold", case_id, sid, "cooling_off", "ready")
        with step("execute"), transaction.atomic(), connection.cursor() as c:
            now = timezone.now()
            c.execute(
                "UPDATE directory_authenticator SET revoked_at = %s WHERE id = %s",
                [now, fx.lost.pk],
            )
            c.execute(self.auth_hist, [now, "~", fx.lost.pk])
            c.execute(
                "UPDATE directory_directorysession SET revoked_at = %s "
                "WHERE identity_id = %s AND revoked_at IS NULL RETURNING id",
                [now, sid],
            )
            sessions = [row[0] for row in c.fetchall()]
            c.execute(self.session_hist, [now, "~", sessions])
            self._move(c, case_id, {"closed_at": now}, "ready", "completed", now)
            detail = {"directory": {"authenticators_revoked": 1, "sessions_revoked": len(sessions)}}
            self._audit(c, now, agent, "case.execute", case_id, sid, "ready", "completed", detail)


# --- measuring ------------------------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for model in WRITTEN_MODELS:
            cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")
            counts[model._meta.db_table] = cursor.fetchone()[0]
    return counts


def bench_lifecycles(*, staff: Staff, lifecycles: int, profile: int) -> dict:
    """Services and raw SQL alternate lifecycle by lifecycle (each going first every other
    time), so a change in machine load while the benchmark runs hits both sides alike."""
    rule = PolicyRule.objects.get(kind=LIFECYCLE_KIND, risk_tier=LIFECYCLE_TIER)
    hold = rule.cooling_off + timedelta(seconds=1)
    per_mode = WARMUP + lifecycles + 1
    svc_fx = make_fixtures("svc", per_mode + profile)
    raw_fx = make_fixtures("raw", per_mode)
    raw = RawLifecycle(staff)

    # One traveller for both sides (same clock cost on both); it ticks with real time and jumps
    # over each cooling-off, so every hold has really elapsed when end_hold runs.
    with time_machine.travel(timezone.now(), tick=True) as clock:
        sides = {
            "services": (lambda fx, step: lifecycle_services(fx, staff, clock, hold, step), svc_fx),
            "raw": (lambda fx, step: raw.run(fx, clock, hold, step), raw_fx),
        }
        for run_one, fixtures in sides.values():
            for fx in fixtures[:WARMUP]:
                run_one(fx, StepTimer())

        seconds = dict.fromkeys(sides, 0.0)
        cpu = dict.fromkeys(sides, 0.0)  # this process's CPU: unaffected by other processes
        steps = {name: StepTimer() for name in sides}
        for n in range(WARMUP, WARMUP + lifecycles):
            order = list(sides) if n % 2 else list(reversed(sides))
            for name in order:
                run_one, fixtures = sides[name]
                start, start_cpu = time.perf_counter(), time.process_time()
                run_one(fixtures[n], steps[name])
                seconds[name] += time.perf_counter() - start
                cpu[name] += time.process_time() - start_cpu

        # One more lifecycle each, untimed: SQL statements per step and rows written.
        queries, rows = {}, {}
        for name, (run_one, fixtures) in sides.items():
            counter = StepTimer(capture=True)
            before = _row_counts()
            run_one(fixtures[WARMUP + lifecycles], counter)
            after = _row_counts()
            queries[name] = counter.queries
            rows[name] = {table: after[table] - before[table] for table in after}

        profiler = None
        if profile:
            profiler = cProfile.Profile()
            run_one = sides["services"][0]
            profiler.enable()
            for fx in svc_fx[per_mode:]:
                run_one(fx, StepTimer())
            profiler.disable()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "steps": steps,
        "queries": queries,
        "rows": rows,
        "profile": profiler,
    }


def _claimer(agent_id, queue_id, quota, go, results) -> None:
    """One agent in its own process and DB connection, as web workers are in production."""
    taken: list[int] = []
    error = None
    try:
        agent = User.objects.get(pk=agent_id)
        queue = Queue.objects.get(pk=queue_id)
        go.wait()
        start_cpu = time.process_time()
        for _ in range(quota):
            case = case_claim_next(queue=queue, agent=agent)
            if case is None:
                break
            taken.append(case.pk)
    except Exception as exc:  # reported, and makes the run fail
        error = f"{type(exc).__name__}: {exc}"
        start_cpu = time.process_time()
    finally:
        connection.close()
    results.put((agent_id, taken, error, time.process_time() - start_cpu))


def bench_claims(*, staff: Staff, claimers: int, claims: int) -> dict:
    """Claimers are processes, not threads: threads in one interpreter share one GIL and
    measure Python's lock, not the claim; production agents are separate web requests.
    """
    queue_id = Queue.objects.get(kind=CLAIM_QUEUE).pk
    agent_ids = [a.pk for a in staff.agents[:claimers]]
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    connections.close_all()  # children must open their own connections
    quota = -(-claims // claimers)
    processes = [
        context.Process(target=_claimer, args=(a, queue_id, quota, go, results)) for a in agent_ids
    ]
    for process in processes:
        process.start()
    time.sleep(2)  # let every claimer connect and load its agent before the start
    start = time.perf_counter()
    go.set()
    outcomes = [results.get() for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join()
    taken = [(case_id, agent_id) for agent_id, ids, _, _ in outcomes for case_id in ids]
    errors = [error for _, _, error, _ in outcomes if error]
    cpu = sum(cpu for _, _, _, cpu in outcomes)

    double = {case_id for case_id, n in Counter(c for c, _ in taken).items() if n > 1}
    assigned = dict(
        RecoveryCase.objects.filter(pk__in=[c for c, _ in taken]).values_list(
            "pk", "assigned_agent_id"
        )
    )
    double |= {case_id for case_id, agent_id in taken if assigned.get(case_id) != agent_id}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT case_id FROM audit_auditevent WHERE action = 'case.claim' "
            "GROUP BY case_id HAVING count(*) > 1"
        )
        double |= {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT id FROM cases_historicalrecoverycase WHERE assigned_agent_id IS NOT NULL "
            "GROUP BY id HAVING count(DISTINCT assigned_agent_id) > 1"
        )
        double |= {row[0] for row in cursor.fetchall()}
    per_agent = Counter(agent_id for _, agent_id in taken)
    return {
        "claims": len(taken),
        "seconds": elapsed,
        "cpu": cpu,
        "double": len(double),
        "errors": errors,
        "per_agent": [per_agent[a] for a in agent_ids],
    }


# --- report ---------------------------------------------------------------------------------


def _print_profile(profiler: cProfile.Profile, lifecycles: int) -> None:
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    print(f"\nprofile of {lifecycles} service lifecycles: {total:.2f} s, "
          f"{1000 * total / lifecycles:.1f} ms each")  # fmt: skip
    repo = str(REPO_ROOT)
    rows = []
    for (filename, line, func), (_cc, ncalls, tt, ct, _callers) in stats.stats.items():
        rows.append((ct, tt, ncalls, filename, line, func))

    def short(filename: str) -> str:
        if filename.startswith(repo):
            return filename[len(repo) + 1 :]
        return filename.split("site-packages/")[-1]

    print("  project functions by cumulative time (share of the profiled run):")
    bench_dir = str(Path(__file__).resolve().parent)
    project = [
        r
        for r in rows
        if r[3].startswith(repo) and "/.venv/" not in r[3] and not r[3].startswith(bench_dir)
    ]
    for ct, _tt, ncalls, filename, _line, func in sorted(project, reverse=True)[:25]:
        per = ncalls / lifecycles
        print(f"    {100 * ct / total:5.1f}%  {short(filename)}:{func} ({per:g}/lifecycle)")
    print("  any function by own time:")
    for _ct, tt, ncalls, filename, line, func in sorted(rows, key=lambda r: -r[1])[:15]:
        print(f"    {100 * tt / total:5.1f}%  {short(filename)}:{line}:{func} ({ncalls} calls)")
    print("  where the time goes (cumulative, overlapping):")

    def cumulative(suffix: str, *funcs: str) -> float:
        return sum(r[0] for r in rows if r[3].endswith(suffix) and r[5] in funcs)

    for label, suffix, funcs in (
        ("every SQL statement (psycopg execute)", "psycopg/cursor.py", ("execute",)),
        ("COMMIT", "psycopg/connection.py", ("commit",)),
        ("lock_case (7 re-reads under FOR UPDATE)", "cases/workflow.py", ("lock_case",)),
        (
            "role checks (roles.can_work, can_approve)",
            "cases/roles.py",
            ("can_work", "can_approve"),
        ),
        ("simple-history rows", "simple_history/models.py", ("create_historical_record",)),
        ("audit_record", "audit/services.py", ("audit_record",)),
    ):
        print(f"    {100 * cumulative(suffix, *funcs) / total:5.1f}%  {label}")


def _print_budget(life: dict, lifecycles: int) -> None:
    """What ratio 0.5 leaves for Python: the services' statements priced at raw SQL's cost
    per statement (a round trip each, BEGIN and COMMIT included), against twice raw's time.
    """
    each = {s: 1000 * life["seconds"][s] / lifecycles for s in ("services", "raw")}
    statements = {s: sum(life["queries"][s].values()) for s in ("services", "raw")}
    per_statement = each["raw"] / statements["raw"]
    floor = statements["services"] * per_statement
    left = 2 * each["raw"] - floor
    spent = each["services"] - floor
    print(
        f"  budget: at raw SQL's {per_statement:.2f} ms per statement, the services' "
        f"{statements['services']} statements take {floor:.1f} ms; ratio 0.5 leaves "
        f"{left:.1f} ms ({left / statements['services']:.3f} ms per statement) for everything "
        f"else; the services spend {spent:.1f} ms ({spent / statements['services']:.3f} ms "
        "per statement)"
    )


def _load() -> str:
    """Other processes on the machine slow both sides; the load average says how busy it was."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--lifecycles", type=int, default=300)
    parser.add_argument("--claimers", type=int, default=4)
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument(
        "--profile",
        nargs="?",
        type=int,
        const=100,
        default=0,
        help="also run this many service lifecycles under cProfile (default 100) and print "
        "the hotspots",
    )
    args = parser.parse_args(argv)
    _refuse_unless_postgresql()

    rule = PolicyRule.objects.get(kind=LIFECYCLE_KIND, risk_tier=LIFECYCLE_TIER)
    staff = ensure_staff(claimers=args.claimers, approvals=rule.approvals_required)

    t0 = time.perf_counter()
    seeded = seed(cases=args.cases, claims=args.claims, claimers=args.claimers, staff=staff)
    print(
        f"seed: {seeded['cases']} cases ({seeded['top_up']} extra new {CLAIM_QUEUE} cases to "
        f"claim), {seeded['identities']} identities in {time.perf_counter() - t0:.1f} s "
        f"(not measured); PostgreSQL {connection.pg_version // 10000}, "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, {_load()}"
    )

    life = bench_lifecycles(staff=staff, lifecycles=args.lifecycles, profile=args.profile)
    rate = {name: args.lifecycles / seconds for name, seconds in life["seconds"].items()}
    ratio = rate["services"] / rate["raw"]
    hold_hours = rule.cooling_off.total_seconds() / 3600
    print(
        f"lifecycles: {args.lifecycles} x privileged MFA re-bind "
        f"({rule.approvals_required} approvals, {hold_hours:g} h cooling-off), "
        "services and raw SQL alternating"
    )
    for name, label in (("services", "services"), ("raw", "raw SQL ")):
        each_ms = 1000 * life["seconds"][name] / args.lifecycles
        cpu_ms = 1000 * life["cpu"][name] / args.lifecycles
        print(
            f"  {label}: {rate[name]:7.1f} lifecycles/s ({each_ms:.1f} ms each, of which "
            f"{cpu_ms:.1f} ms Python CPU in this process)"
        )
    print("  step        services ms  raw ms   services SQL  raw SQL   (SQL incl. BEGIN, COMMIT)")
    for name in STEPS:
        svc_ms, raw_ms = (
            1000 * life["steps"][s].seconds[name] / args.lifecycles for s in ("services", "raw")
        )
        print(
            f"  {name:<10}  {svc_ms:11.2f}  {raw_ms:6.2f}"
            f"   {life['queries']['services'][name]:12d}  {life['queries']['raw'][name]:7d}"
        )
    svc_rows, raw_rows = life["rows"]["services"], life["rows"]["raw"]
    same = svc_rows == raw_rows
    print(f"  rows written per lifecycle: {sum(svc_rows.values())} by the services, "
          f"{sum(raw_rows.values())} by raw SQL; table by table identical: {same}")  # fmt: skip
    if not same:
        for table in svc_rows:
            print(f"    {table}: services {svc_rows[table]}, raw {raw_rows[table]}")
    _print_budget(life, args.lifecycles)
    if args.profile:
        _print_profile(life["profile"], args.profile)

    claims = bench_claims(staff=staff, claimers=args.claimers, claims=args.claims)
    claims_per_s = claims["claims"] / claims["seconds"] if claims["seconds"] else 0.0
    print(
        f"claim-next: {args.claimers} claimers took {claims['claims']} cases in "
        f"{claims['seconds']:.2f} s = {claims_per_s:.1f} claims/s "
        f"(per claimer {claims['per_agent']}); double claims {claims['double']}"
    )
    if claims["claims"]:
        cpu_ms = 1000 * claims["cpu"] / claims["claims"]
        print(f"  Python CPU {cpu_ms:.1f} ms per claim across the claimer processes; {_load()}")
    for error in claims["errors"]:
        print(f"  claimer error: {error}")
    print(
        f"targets: ratio >= 0.5 {'ok' if ratio >= 0.5 else 'MISSED'}, claims >= 200/s "
        f"{'ok' if claims_per_s >= 200 else 'MISSED'}, double claims 0 "
        f"{'ok' if claims['double'] == 0 else 'MISSED'}"
    )
    print(f"ratio={ratio:.2f} claims_per_s={int(claims_per_s)} double_claims={claims['double']}")
    return 1 if claims["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
