"""Benchmark the case transitions step by step against a floor, and concurrent claim-next.

    DATABASE_URL=postgres://... .venv/bin/python bench/transitions.py \
        [--cases 100000] [--lifecycles 300] [--claimers 4] [--claims 2000] [--profile [N]]

1. Seeds ``--cases`` recovery cases in mixed states (not measured). It TRUNCATEs the tables it
   seeds first, so it is safe to re-run; the staff users ``bench.*`` are reused.
2. Runs ``--lifecycles`` privileged MFA re-binds through the steps of ``demo/builders.py``
   (the builders the tests and the demo seed use), timing each step (one service call) and,
   in one more lifecycle, counting its SQL statements. Between two steps it times the floor:
   one transaction that locks a case row, updates it and inserts its history and audit rows,
   by hand.
3. Runs ``--claimers`` processes (one DB connection each) calling ``case_claim_next`` on a
   queue with many new cases until ``--claims`` cases are taken; counts double claims.
4. The last line is ``step_p95_ms=<max p95 over steps> statements=<per lifecycle>
   floor_ratio=<floor p50 x steps / lifecycle p50> claims_per_s=<int> double_claims=<int>``.

PostgreSQL gives the figures; SQLite runs too, to debug the script, and says its figures mean
nothing. See bench/README.md for what each figure means.
"""

# ruff: noqa: E402  (Django must be configured before the project's modules are imported)

import argparse
import cProfile
import json
import math
import multiprocessing
import os
import pstats
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "recovery_desk.settings"

import django

django.setup()

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Approval
from approvals.services import approval_grant
from audit.actions import Action, ActorKind
from audit.models import AuditEvent
from cases import roles
from cases import tasks as case_tasks
from cases.execution import execution_run
from cases.models import PolicyRule, Queue, RecoveryCase
from cases.policy import PinnedPolicy
from cases.services import case_claim_next
from cases.states import TERMINAL_STATES, Channel, Kind, State
from demo import builders
from directory.models import (
    Authenticator,
    ChannelOfRecord,
    DirectorySession,
    Identity,
    ManagedDevice,
    RiskTier,
)
from recovery_desk import clock
from verification.models import Evidence

RNG_SEED = 20261129
# psycopg prepares a statement on its 6th run on a connection (PREPARE_THRESHOLD, settings):
# the untimed lifecycles run every statement of a lifecycle that often first.
WARMUP = 6
CLAIM_QUEUE = Kind.PASSWORD_RESET
LIFECYCLE_KIND = Kind.MFA_REBIND
LIFECYCLE_TIER = RiskTier.PRIVILEGED
STEP_P95_TARGET_MS = 10.0
CLAIMS_TARGET = 400

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

# Everything the seed owns: emptied before every run (children first, for SQLite's DELETE).
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
    Identity.history.model,
    Authenticator.history.model,
    DirectorySession.history.model,
)


def _seeded_tables() -> list[str]:
    tables = []
    for model in SEEDED_MODELS:
        if hasattr(model, "history"):
            tables.append(model.history.model._meta.db_table)
        tables.append(model._meta.db_table)
    return tables


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


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


def _blank_row(model) -> dict:
    """Every concrete column of ``model``, at the model's default (None where it has none), so
    the seed follows the migrations: a new NOT NULL column without a default fails loudly."""
    return {
        f.column: (f.get_default() if f.has_default() else None)
        for f in model._meta.concrete_fields
    }


CASE_COLUMNS = tuple(_blank_row(RecoveryCase))
IDENTITY_COLUMNS = tuple(_blank_row(Identity))


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
    row = _blank_row(RecoveryCase)
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
    if state == State.COMPLETED:  # through executing, one attempt at the directory
        started = opened + 4.5 * gap
        row.update(
            execution_started_at=started,
            execution_attempted_at=started,
            execution_attempts=1,
            expires_at=None,
        )
    if terminal:
        row["closed_at"] = opened + 5 * gap
        if state == State.REJECTED:
            row["closing_reason"] = "Evidence did not hold up."
        elif state == State.CANCELLED:
            row["closing_reason"] = "This was not me."
    return tuple(row[c] for c in CASE_COLUMNS)


def _bulk_load(table: str, columns: tuple[str, ...], rows) -> None:
    """COPY on PostgreSQL; plain INSERTs elsewhere (SQLite, debugging only)."""
    with connection.cursor() as cursor:
        if _postgresql():
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows)
            )


def _history_columns(model) -> list[str]:
    """Columns a simple-history row copies from its model (everything but history_*)."""
    return [
        f.column
        for f in model.history.model._meta.concrete_fields
        if not f.name.startswith("history_")
    ]


def _history_from_table_sql(model, where: str, history_date: str = "%s") -> str:
    """INSERT ... SELECT of the history rows of ``model`` rows matching ``where``, as
    ``recovery_desk/history.py`` writes them. Parameters: history_date (unless given as SQL),
    history_type, then those of ``where``."""
    cols = ", ".join(_history_columns(model))
    return (
        f"INSERT INTO {model.history.model._meta.db_table} "
        f"({cols}, history_date, history_type, history_user_id, history_change_reason) "
        f"SELECT {cols}, {history_date}, %s, NULL, NULL FROM {model._meta.db_table} "
        f"WHERE {where}"
    )


def _empty_seeded_tables(cursor) -> None:
    from bench.guard import refuse_a_real_desk

    refuse_a_real_desk()
    tables = _seeded_tables()
    if _postgresql():
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        return
    for table in tables:
        cursor.execute(f"DELETE FROM {table}")
    marks = ", ".join(["%s"] * len(tables))
    cursor.execute(f"DELETE FROM sqlite_sequence WHERE name IN ({marks})", tables)


def seed(*, cases: int, claims: int, claimers: int, staff: Staff) -> dict[str, int]:
    """The background: ``cases`` cases in mixed states, loaded by hand (COPY), not through
    ``demo.builders.case_in``. The builders drive every case through the real services, one
    transaction per step: 100,000 cases that way (40 % of them completed, nine steps each)
    would take roughly an hour of service calls before anything is measured (bench/README.md).
    The rows follow the models' ``_meta`` instead, so the seed keeps up with the migrations;
    the cases the benchmark measures (``lifecycle``) are built by the builders' steps."""
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
        row = _blank_row(Identity)
        row.update(
            id=ident_id,
            username=f"bench.subject{ident_id}",
            display_name=f"Subject {ident_id}",
            employee_id=f"E{ident_id:07d}",
            risk_tier=tier,
            created_at=now - timedelta(days=400),
        )
        identities.append(tuple(row[c] for c in IDENTITY_COLUMNS))
        return ident_id

    tier_at = IDENTITY_COLUMNS.index("risk_tier")
    # Two cases per identity, of two different kinds: (subject, kind) never repeats, so the
    # "one open case per subject and kind" constraint holds whatever the states.
    subject = None
    for n in range(cases):
        if n % 2 == 0:
            subject = identity(_weighted(rng, TIER_MIX))
        case_rows.append(
            _case_row(
                case_id=n + 1,
                subject_id=subject,
                kind=KINDS[n % 3],
                tier=identities[subject - 1][tier_at],
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

    jsonb = "'{}'::jsonb" if _postgresql() else "'{}'"
    with transaction.atomic(), connection.cursor() as cursor:
        _empty_seeded_tables(cursor)
        _bulk_load(Identity._meta.db_table, IDENTITY_COLUMNS, identities)
        _bulk_load(RecoveryCase._meta.db_table, CASE_COLUMNS, case_rows)
        if _postgresql():
            for model in (Identity, RecoveryCase):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        # Each seeded case gets its creation history row and its case.open audit event, so the
        # tables the lifecycles append to have the size they would have.
        cursor.execute(_history_from_table_sql(RecoveryCase, "1 = 1", "opened_at"), ["+"])
        cursor.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor_id, actor_kind, "
            "actor_label, action, case_id, identity_id, old_state, new_state, detail) "
            f"SELECT c.opened_at, c.opened_by_id, %s, u.username, %s, c.id, c.subject_id, "
            f"'', 'new', {jsonb} FROM {RecoveryCase._meta.db_table} c JOIN auth_user u "
            "ON u.id = c.opened_by_id ORDER BY c.opened_at, c.id",
            [ActorKind.STAFF.value, Action.CASE_OPEN.value],
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


def make_fixtures(count: int) -> list[Fixture]:
    """TOTP replay protection forbids reusing a time step, and a completed re-bind starts the
    policy's recovery gap: each lifecycle gets a fresh subject, two authenticators, a session.

    The subjects are the builders' (``demo.builders.new_subject``, as ``case_in`` makes them).
    The builders have no step for the rest: the authenticators get the labels ``case_in`` and
    ``evidence_authenticator`` give theirs ("Lost phone" for the one replaced, "Phone" for the
    evidence), and the session is what the directory step revokes. All are made here, before
    timing and before the counted lifecycle's row counts."""
    subjects = [
        builders.new_subject(kind=LIFECYCLE_KIND, tier=LIFECYCLE_TIER) for _ in range(count)
    ]
    authenticators = Authenticator.objects.bulk_create(
        Authenticator(identity=s, label=label)
        for s in subjects
        for label in ("Lost phone", "Phone")
    )
    started = timezone.now() - timedelta(hours=1)
    DirectorySession.objects.bulk_create(
        DirectorySession(identity=s, client="Laptop browser", started_at=started) for s in subjects
    )
    return [
        Fixture(subject=s, lost=authenticators[2 * n], spare=authenticators[2 * n + 1])
        for n, s in enumerate(subjects)
    ]


# --- the floor -------------------------------------------------------------------------------


class Floor:
    """One transaction of the shape every step has, with nothing else: lock a case row (the
    database's clock read in the same statement), update it, insert its simple-history row
    (``INSERT … SELECT`` from the row, as ``recovery_desk/history.py`` does) and its audit
    row. Columns come from the models' ``_meta``, so the floor follows the migrations.

    The UPDATE keeps the state and moves ``expires_at``, an indexed column, as every transition
    moves ``state``: no HOT update, every index of the table gets its entry, as in the steps.
    """

    def __init__(self):
        quote = connection.ops.quote_name
        case_meta = RecoveryCase._meta
        table = quote(case_meta.db_table)
        columns = [f.column for f in case_meta.concrete_fields]
        now_sql = (
            "CURRENT_TIMESTAMP" if _postgresql() else "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')"
        )
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        self.lock_sql = (
            f"SELECT {', '.join(quote(c) for c in columns)}, {now_sql} FROM {table} "
            f"WHERE {quote(case_meta.pk.column)} = %s{lock}"
        )
        state_column = case_meta.get_field("state").column
        self.state_at = columns.index(state_column)
        self.subject_at = columns.index(case_meta.get_field("subject").column)
        self.expires = case_meta.get_field("expires_at")
        self.update_sql = (
            f"UPDATE {table} SET {quote(state_column)} = %s, {quote(self.expires.column)} = %s "
            f"WHERE {quote(case_meta.pk.column)} = %s"
        )
        self.history_sql = _history_from_table_sql(
            RecoveryCase, f"{quote(case_meta.pk.column)} = %s"
        )
        self.history_date = RecoveryCase.history.model._meta.get_field("history_date")
        # The audit row: every concrete column but the id, prepared once from an unsaved event
        # (model defaults for anything added later); five values change per run.
        fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
        event = AuditEvent(
            occurred_at=timezone.now(),
            actor=None,
            actor_kind=ActorKind.SYSTEM,
            actor_label=ActorKind.SYSTEM.value,
            action=Action.CASE_GAP_RELEASE,  # the enumeration's action that moves no state
            detail={"bench": "floor"},
        )
        self.audit_values = [
            f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields
        ]
        names = [f.name for f in fields]
        self.occurred_at = fields[names.index("occurred_at")]
        self.varying = {
            n: names.index(n) for n in ("occurred_at", "case", "identity", "old_state", "new_state")
        }
        self.audit_sql = (
            f"INSERT INTO {quote(AuditEvent._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )

    @staticmethod
    def _as_datetime(value) -> datetime:
        if isinstance(value, str):  # SQLite answers with text in UTC
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

    def run(self, case_id: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(self.lock_sql, [case_id])
            row = cursor.fetchone()
            now = self._as_datetime(row[-1])
            state = row[self.state_at]
            cursor.execute(
                self.update_sql,
                [
                    state,
                    self.expires.get_db_prep_save(now + timedelta(hours=1), connection),
                    case_id,
                ],
            )
            cursor.execute(
                self.history_sql,
                [self.history_date.get_db_prep_save(now, connection), "~", case_id],
            )
            values = list(self.audit_values)
            varying = self.varying
            values[varying["occurred_at"]] = self.occurred_at.get_db_prep_save(now, connection)
            values[varying["case"]] = case_id
            values[varying["identity"]] = row[self.subject_at]
            values[varying["old_state"]] = values[varying["new_state"]] = state
            cursor.execute(self.audit_sql, values)


# --- one lifecycle through the services ---------------------------------------------------


class Recorder:
    """Wall time of every step; with ``capture``, also the SQL statements of each step
    (``CaptureQueriesContext``: BEGIN and COMMIT included). ``between`` runs after each step,
    outside its timing (the floor)."""

    def __init__(self, capture: bool = False, between=None):
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.cpu_ms: dict[str, list[float]] = defaultdict(list)
        self.statements: Counter[str] = Counter()
        self.sql: dict[str, list[str]] = defaultdict(list)
        self.capture = capture
        self.between = between

    @contextmanager
    def step(self, name: str):
        captured = CaptureQueriesContext(connection) if self.capture else nullcontext()
        with captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            yield
            elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        self.ms[name].append(1000 * elapsed)
        self.cpu_ms[name].append(1000 * cpu)
        if self.capture:
            self.statements[name] += len(captured.captured_queries)
            self.sql[name] += [q["sql"] for q in captured.captured_queries]
        if self.between is not None:
            self.between()


class Enqueued:
    """Stands in for ``execute_case.delay``: the hand-off enqueues on commit, and the bench
    calls ``execution_run`` itself as the next step, so no broker is touched."""

    def __init__(self):
        self.case_ids: list[int] = []

    def __call__(self, case_id, *args, **kwargs):
        self.case_ids.append(case_id)


def step_names(policy: PinnedPolicy) -> list[str]:
    names = ["open", "claim", "evidence", "verify"]
    names += [
        f"approve {n}/{policy.approvals_required}" for n in range(1, policy.approvals_required + 1)
    ]
    if policy.cooling_off > timedelta(0):
        names.append("end_hold")
    return [*names, "execute", "directory"]


def lifecycle(
    fx: Fixture, staff: Staff, policy: PinnedPolicy, enqueued: Enqueued, rec: Recorder
) -> int:
    """One privileged MFA re-bind through the steps of ``demo.builders``, the ones the tests and
    the demo seed use; returns the case id. Each timed step is one service call: whatever a
    builder step does besides its service call is done before the timer starts (or, where the
    builder does it after the call, the service is timed on its own; see below)."""
    agent = staff.agents[0]
    with rec.step("open"):  # case_open
        case = builders.open(
            staff.opener,
            subject=fx.subject,
            kind=LIFECYCLE_KIND,
            replaced_authenticator=fx.lost,
            intake_channel=Channel.PHONE,
        )
    with rec.step("claim"):  # case_claim
        case = builders.claim(case, agent)
    # builders.pass_evidence picks the authenticator (evidence_authenticator: the clock and the
    # holder's authenticators, read from the database) and reads its code (current_code: the
    # clock again) before its one evidence_check: both done here, untimed; the check itself is
    # timed through builders.check_totp, the evidence_check call pass_evidence makes.
    authenticator = builders.evidence_authenticator(case)
    if authenticator.pk != fx.spare.pk:
        raise RuntimeError(f"{case.reference}: evidence from {authenticator}, not the spare")
    token = builders.current_code(authenticator)
    with rec.step("evidence"):  # evidence_check
        evidence = builders.check_totp(
            case=case, authenticator=authenticator, token=token, actor=agent
        )
    if evidence.outcome != Evidence.Outcome.PASSED:
        raise RuntimeError(f"{case.reference}: evidence {evidence.outcome}")
    with rec.step("verify"):  # case_verify
        case = builders.verify(case, agent)
    # builders.approve(case, manager) is approval_grant followed by a re-read of the case (one
    # more SELECT, inside the call): the timed step is that approval_grant alone, and the case
    # is re-read once after the last approval, untimed.
    for n, manager in enumerate(staff.managers[: policy.approvals_required], start=1):
        with rec.step(f"approve {n}/{policy.approvals_required}"):  # approval_grant
            approval_grant(case=case, approver=manager, reason="Spoke to the subject's manager")
    case.refresh_from_db()
    # The hold ends on the database's clock: pin it just past hold_until for the rest. With the
    # pin already there, builders.end_hold has no clock to move: it runs case_end_hold alone.
    late = timedelta(seconds=1)
    after_hold = case.hold_until + late if case.hold_until else None
    with clock.pinned(after_hold) if after_hold else nullcontext() as pin:
        if after_hold:
            with rec.step("end_hold"):  # case_end_hold
                case = builders.end_hold(case, pin, late=late)
        before = len(enqueued.case_ids)
        with rec.step("execute"):  # case_execute
            case = builders.execute(case, agent)
        if enqueued.case_ids[before:] != [case.pk]:
            raise RuntimeError(
                f"{case.reference}: the hand-off enqueued {enqueued.case_ids[before:]}"
            )
        # builders.executed is execute and this together; the benchmark times them apart, so
        # the directory step is the task's call, execution_run, on the configured connector.
        with rec.step("directory"):  # execution_run
            case = execution_run(case_id=case.pk)
    if case.state != State.COMPLETED:
        raise RuntimeError(f"{case.reference} ended {case.state}")
    return case.pk


# --- measuring ------------------------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for model in WRITTEN_MODELS:
            cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")
            counts[model._meta.db_table] = cursor.fetchone()[0]
    return counts


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` percent of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def bench_lifecycles(*, staff: Staff, lifecycles: int, profile: int) -> dict:
    rule = PolicyRule.objects.get(kind=LIFECYCLE_KIND, risk_tier=LIFECYCLE_TIER)
    policy = PinnedPolicy.from_rule(rule)
    names = step_names(policy)
    fixtures = iter(make_fixtures(WARMUP + lifecycles + 1 + profile))
    floor = Floor()
    enqueued = Enqueued()
    real_delay = case_tasks.execute_case.delay
    case_tasks.execute_case.delay = enqueued
    try:
        last_case = None
        for _ in range(WARMUP):  # untimed; the floor warms up on the cases they complete
            last_case = lifecycle(next(fixtures), staff, policy, enqueued, Recorder())
            floor.run(last_case)

        # The floor runs after every step, on the case the previous lifecycle completed (a row
        # as recently written as the steps' own), so machine load hits both alike.
        floor_ms: list[float] = []

        def between() -> None:
            start = time.perf_counter()
            floor.run(floor_case)
            floor_ms.append(1000 * (time.perf_counter() - start))

        rec = Recorder(between=between)
        lifecycle_ms = []
        for _ in range(lifecycles):
            floor_case = last_case
            last_case = lifecycle(next(fixtures), staff, policy, enqueued, rec)
            lifecycle_ms.append(sum(rec.ms[name][-1] for name in names))

        # One more lifecycle and one floor, untimed: SQL statements and rows written.
        counter = Recorder(capture=True)
        before = _row_counts()
        counted_case = lifecycle(next(fixtures), staff, policy, enqueued, counter)
        after = _row_counts()
        with CaptureQueriesContext(connection) as floor_queries:
            floor.run(counted_case)

        profiler = None
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for fx in fixtures:
                lifecycle(fx, staff, policy, enqueued, Recorder())
            profiler.disable()
    finally:
        case_tasks.execute_case.delay = real_delay
    return {
        "rule": rule,
        "policy": policy,
        "steps": names,
        "ms": rec.ms,
        "lifecycle_ms": lifecycle_ms,
        "cpu_ms": sum(sum(rec.cpu_ms[name]) for name in names) / lifecycles,
        "floor_ms": floor_ms,
        "statements": counter.statements,
        "sql": counter.sql,
        "floor_statements": len(floor_queries.captured_queries),
        "rows": {table: after[table] - before[table] for table in after},
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
            f"SELECT case_id FROM {AuditEvent._meta.db_table} WHERE action = %s "
            "GROUP BY case_id HAVING count(*) > 1",
            [Action.CASE_CLAIM.value],
        )
        double |= {row[0] for row in cursor.fetchall()}
        cursor.execute(
            f"SELECT id FROM {RecoveryCase.history.model._meta.db_table} "
            "WHERE assigned_agent_id IS NOT NULL "
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
        ("lock_case", "cases/workflow.py", ("lock_case",)),
        ("role checks (roles._has_role)", "cases/roles.py", ("_has_role",)),
        ("simple-history rows", "recovery_desk/history.py", ("create_historical_record",)),
        ("audit_record", "audit/services.py", ("audit_record",)),
    ):
        print(f"    {100 * cumulative(suffix, *funcs) / total:5.1f}%  {label}")


def _load() -> str:
    """Other processes on the machine slow every figure; the load average says how busy it was."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _database() -> str:
    if _postgresql():
        return f"PostgreSQL {connection.pg_version // 10000}"
    return f"{connection.vendor} (debugging only: these figures mean nothing)"


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
    parser.add_argument(
        "--sql", action="store_true", help="print the statements of each step (counted lifecycle)"
    )
    args = parser.parse_args(argv)
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        print("CELERY_TASK_ALWAYS_EAGER is on: turn it off, the bench runs the directory step.")
        return 2

    rule = PolicyRule.objects.get(kind=LIFECYCLE_KIND, risk_tier=LIFECYCLE_TIER)
    staff = ensure_staff(claimers=args.claimers, approvals=rule.approvals_required)

    t0 = time.perf_counter()
    seeded = seed(cases=args.cases, claims=args.claims, claimers=args.claimers, staff=staff)
    print(
        f"seed: {seeded['cases']} cases ({seeded['top_up']} extra new {CLAIM_QUEUE} cases to "
        f"claim), {seeded['identities']} identities in {time.perf_counter() - t0:.1f} s "
        f"(not measured); {_database()}, {datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} CPUs, {_load()}"
    )

    life = bench_lifecycles(staff=staff, lifecycles=args.lifecycles, profile=args.profile)
    policy, names = life["policy"], life["steps"]
    hold_hours = policy.cooling_off.total_seconds() / 3600
    lifecycle_p50 = percentile(life["lifecycle_ms"], 50)
    floor_p50 = percentile(life["floor_ms"], 50)
    floor_p95 = percentile(life["floor_ms"], 95)
    statements = sum(life["statements"][name] for name in names)
    p95 = {name: percentile(life["ms"][name], 95) for name in names}
    step_p95 = max(p95.values())
    floor_ratio = floor_p50 * len(names) / lifecycle_p50
    print(
        f"lifecycles: {args.lifecycles} x privileged MFA re-bind ({policy.approvals_required} "
        f"approvals, {hold_hours:g} h cooling-off), {len(names)} steps, one service call each; "
        f"the floor after every step"
    )
    print(
        f"  lifecycle p50 {lifecycle_p50:.1f} ms, p95 {percentile(life['lifecycle_ms'], 95):.1f} "
        f"ms (sum of its steps); {1000 / statistics.mean(life['lifecycle_ms']):.1f} lifecycles/s; "
        f"{life['cpu_ms']:.1f} ms of it Python CPU in this process"
    )
    print(
        "  step            p50 ms   p95 ms   SQL  floors   (SQL: statements, BEGIN and COMMIT "
        "included; floors: p50 / floor p50)"
    )
    for name in names:
        p50 = percentile(life["ms"][name], 50)
        print(
            f"  {name:<14} {p50:7.2f}  {p95[name]:7.2f}  {life['statements'][name]:4d}"
            f"  {p50 / floor_p50:6.1f}"
        )
    lifecycle_p95 = percentile(life["lifecycle_ms"], 95)
    print(
        f"  {'lifecycle':<14} {lifecycle_p50:7.2f}  {lifecycle_p95:7.2f}  {statements:4d}"
        f"  {lifecycle_p50 / floor_p50:6.1f}"
    )
    print(
        f"  {'floor':<14} {floor_p50:7.2f}  {floor_p95:7.2f}  {life['floor_statements']:4d}"
        f"     1.0   ({len(life['floor_ms'])} runs: lock, update, history row, audit row)"
    )
    print(
        f"  floor_ratio = floor p50 {floor_p50:.2f} ms x {len(names)} steps / lifecycle p50 "
        f"{lifecycle_p50:.1f} ms = {floor_ratio:.2f}"
    )
    rows = {table: n for table, n in life["rows"].items() if n}
    print(f"  rows written per lifecycle: {sum(rows.values())} "
          f"({', '.join(f'{t} {n}' for t, n in rows.items())})")  # fmt: skip
    if args.sql:
        for name in names:
            print(f"  SQL of {name}:")
            for sql in life["sql"][name]:
                print(f"    {sql[:150]}")
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
    slow = [name for name in names if p95[name] > STEP_P95_TARGET_MS]
    print(
        f"targets: every step p95 <= {STEP_P95_TARGET_MS:g} ms "
        f"{'ok' if not slow else 'MISSED (' + ', '.join(slow) + ')'}, claims >= {CLAIMS_TARGET}/s "
        f"{'ok' if claims_per_s >= CLAIMS_TARGET else 'MISSED'}, double claims 0 "
        f"{'ok' if claims['double'] == 0 else 'MISSED'}"
    )
    print(
        f"step_p95_ms={step_p95:.1f} statements={statements} floor_ratio={floor_ratio:.2f} "
        f"claims_per_s={int(claims_per_s)} double_claims={claims['double']}"
    )
    return 1 if claims["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
