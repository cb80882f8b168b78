"""Benchmark the staff workbench's pages on a desk of ``--cases`` cases (issue #13).

    DATABASE_URL=postgres://... .venv/bin/python bench/admin_pages.py \
        [--cases 1000000] [--requests 50] [--explain] [--sql]

1. Seeds ``--cases`` cases with set-based SQL (``bench/seed_scale.py``: identities with their
   authenticators and channels, cases in every state across the three queues, evidence,
   approvals and several audit events per case), then VACUUM ANALYZE. It TRUNCATEs the tables
   it seeds first, so it is safe to re-run; the staff users ``bench.pages.*`` are made once
   with the tests' factories (``tests.cases.factories``) and reused. It migrates nothing: run
   ``manage.py migrate`` first.
2. Signs in an agent, a manager and a security reviewer (force_login and a confirmed TOTP
   device in the session, as the tests do) and requests each page with Django's test Client,
   in process: the desk home, one queue (the case changelist filtered to a queue), the
   approvals inbox, the case page and the trail filtered by identity. Warm-up requests first,
   then ``--requests`` rounds, each page once per round, and the floor in every round: a
   trivial indexed ``SELECT`` and an admin page that reads no case (the password change form).
3. Prints p50/p95 per page, the SQL statements of five more requests of each page and the
   slowest of them (median of its five times), and whether any ``COUNT`` ran without a
   ``LIMIT``. A page that does not resolve or answers anything but 200 prints
   ``<page>: not available (<status>)``.
4. The last line is ``queue_page_p95_ms=<int> case_page_p95_ms=<int> trail_p95_ms=<int>``
   (-1 for a page not available).

PostgreSQL only (the seed is PostgreSQL SQL; SQLite figures would mean nothing). See
bench/README.md, "Admin pages at a million cases".
"""

# ruff: noqa: E402  (Django must be configured before the project's modules are imported)

import argparse
import logging
import math
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "recovery_desk.settings"

import django

django.setup()

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from bench import seed_scale
from cases.models import Queue, RecoveryCase
from cases.states import OPEN_STATES, Kind, State
from directory.models import Identity
from tests.cases.factories import make_agent, make_manager, make_security_reviewer

# psycopg prepares a statement on its 6th run on a connection (PREPARE_THRESHOLD, settings):
# every page is requested this often before timing.
WARMUP = 6
COUNTED = 5  # requests per page whose statements are timed one by one (median per statement)
TARGETS_MS = {"queue": 300, "case page": 150, "trail": 300}
QUEUE_KIND = Kind.PASSWORD_RESET  # the busiest queue (55 % of the cases)
AGENTS, MANAGERS, REVIEWERS = 30, 4, 3
COUNT_RE = re.compile(r"\bCOUNT\(", re.IGNORECASE)


# --- staff -----------------------------------------------------------------------------------


def _user(make, username: str) -> User:
    """A staff user with its group and per-queue roles, made once by the tests' factory; no
    usable password (nothing signs in with one here, and hashing would cost seconds)."""
    return User.objects.filter(username=username).first() or make(username=username, password=None)


def ensure_staff() -> seed_scale.SeedStaff:
    return seed_scale.SeedStaff(
        agents=[_user(make_agent, f"bench.pages.agent{n}") for n in range(AGENTS)],
        managers=[_user(make_manager, f"bench.pages.manager{n}") for n in range(MANAGERS)],
        reviewers=[
            _user(make_security_reviewer, f"bench.pages.reviewer{n}") for n in range(REVIEWERS)
        ],
    )


def signed_in(user: User) -> Client:
    """A client with a staff session that passed the second factor (tests/test_admin.py)."""
    client = Client(raise_request_exception=False, headers={"host": "localhost"})
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="bench", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


# --- pages -----------------------------------------------------------------------------------


@dataclass
class Statement:
    ms: float
    sql: str
    params: object

    def text(self) -> str:
        try:
            return connection.ops.compose_sql(self.sql, self.params)
        except Exception:  # executemany, or a backend without compose_sql: the raw statement
            return self.sql


class Recorder:
    """An execute wrapper: each statement's own time, to the microsecond (the debug cursor
    rounds to the millisecond)."""

    def __init__(self):
        self.statements: list[Statement] = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = 1000 * (time.perf_counter() - start)
            self.statements.append(Statement(ms, sql, None if many else params))


@dataclass
class Page:
    name: str
    who: str
    client: Client
    url: str | None
    note: str = ""
    status: str = ""  # why it is not available; empty when it is
    ms: list[float] = field(default_factory=list)
    counted: int = 0  # statements of the counted request, BEGIN/COMMIT and session included
    statements: list[Statement] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.url is not None and not self.status


def _url(name: str, *args, query: str = "") -> str | None:
    try:
        return reverse(name, args=args) + query
    except NoReverseMatch:
        return None


def _get(client: Client, url: str):
    return client.get(url)


def _status(response) -> str:
    """The status of a response that is not a 200, with where it redirects or what it raised."""
    text = str(response.status_code)
    if response.get("Location"):
        text += f" to {response['Location']}"
    if getattr(response, "exc_info", None):
        error = response.exc_info[1]
        text += f": {type(error).__name__}: {error}"[:200]
    return text


def _check(page: Page) -> None:
    if page.url is None:
        page.status = "no URL"
        return
    response = _get(page.client, page.url)
    if response.status_code != 200:
        page.status = _status(response)


def _queue_page(client: Client, queue: Queue) -> Page:
    """The case changelist filtered to one queue; the admin refuses a filter it does not
    offer with a redirect to ``?e=1``: then by kind, new cases only."""
    base = _url("admin:cases_recoverycase_changelist")
    page = Page("queue", "agent", client, None)
    if base is None:
        page.status = "no URL"
        return page
    page.url = f"{base}?queue__id__exact={queue.pk}"
    response = _get(client, page.url)
    if response.status_code == 302 and "e=1" in response.get("Location", ""):
        page.url = f"{base}?kind__exact={queue.kind}&state__exact={State.NEW}"
        page.note = "queue filter refused (?e=1): by kind, new cases"
    _check(page)
    return page


def case_for_page(agent: User) -> RecoveryCase | None:
    """The agent's open case with the longest history so far (the page draws the whole
    timeline): approvals, a hold, a failed check make the case page do the most."""
    return (
        RecoveryCase.objects.filter(
            assigned_agent=agent,
            state__in=[State.READY, State.COOLING_OFF, State.AWAITING_APPROVAL, State.VERIFYING],
        )
        .annotate(events=Count("audit_events"))
        .order_by("-events", "-opened_at")
        .first()
    )


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


def build_pages(staff: seed_scale.SeedStaff) -> tuple[list[Page], dict]:
    agent, manager, reviewer = staff.agents[0], staff.managers[0], staff.reviewers[0]
    as_agent, as_manager, as_reviewer = signed_in(agent), signed_in(manager), signed_in(reviewer)
    queue = Queue.objects.get(kind=QUEUE_KIND)
    case = case_for_page(agent)
    frequent = Identity.objects.get(username=seed_scale.FREQUENT_CALLER)
    facts = {
        "agent": agent,
        "manager": manager,
        "reviewer": reviewer,
        "queue": queue,
        "case": case,
        "frequent": frequent,
        "agent_open": RecoveryCase.objects.filter(
            assigned_agent=agent, state__in=sorted(OPEN_STATES)
        ).count(),
        "awaiting_manager": RecoveryCase.objects.filter(
            state=State.AWAITING_APPROVAL, policy_snapshot__approver_role="manager"
        ).count(),
        "case_events": AuditEvent.objects.filter(case=case).count() if case else 0,
        "frequent_events": AuditEvent.objects.filter(identity=frequent).count(),
        "statement_timeout": _setting("statement_timeout"),
    }
    pages = [
        Page("desk home", "agent", as_agent, _url("admin:index")),
        _queue_page(as_agent, queue),
        Page("inbox", "manager", as_manager, _url("admin:desk:inbox")),
        Page(
            "case page",
            "agent",
            as_agent,
            _url("admin:desk:case", case.pk) if case else None,
        ),
        Page(
            "trail",
            "reviewer",
            as_reviewer,
            _url("admin:desk:trail", query=f"?identity={frequent.username}"),
        ),
    ]
    for page in pages:
        if page.name != "queue":
            _check(page)
    return pages, facts


# --- the floor -------------------------------------------------------------------------------


class Floor:
    """Measured in every round, next to the pages: one indexed ``SELECT`` by primary key (a
    database round trip) and one admin page that reads no case (the password change form:
    middleware, session, second factor, the admin frame and the desk menu)."""

    def __init__(self, client: Client, case_id: int):
        self.client = client
        self.case_id = case_id
        table = connection.ops.quote_name(RecoveryCase._meta.db_table)
        self.sql = f"SELECT id FROM {table} WHERE id = %s"
        self.page = Page("floor page", "agent", client, _url("admin:password_change"))
        _check(self.page)
        self.select_ms: list[float] = []

    def select(self, timed: bool = True) -> None:
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [self.case_id])
            cursor.fetchone()
        if timed:
            self.select_ms.append(1000 * (time.perf_counter() - start))


# --- measuring -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` percent of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _timed(page: Page) -> None:
    start = time.perf_counter()
    response = _get(page.client, page.url)
    elapsed = 1000 * (time.perf_counter() - start)
    if response.status_code != 200:
        page.status = f"{_status(response)} (during the run)"
        return
    page.ms.append(elapsed)


def measure(pages: list[Page], floor: Floor, requests: int) -> None:
    measured = [p for p in pages if p.available]
    if floor.page.available:
        measured.append(floor.page)
    for _ in range(WARMUP):
        floor.select(timed=False)
        for page in measured:
            _get(page.client, page.url)
    for _ in range(requests):
        floor.select()
        for page in measured:
            if page.available:
                _timed(page)
    for page in measured:  # COUNTED more requests each: statements and their times
        if not page.available:
            continue
        runs = []
        for _ in range(COUNTED):
            recorder = Recorder()
            with (
                CaptureQueriesContext(connection) as captured,
                connection.execute_wrapper(recorder),
            ):
                _get(page.client, page.url)
            runs.append(recorder.statements)
        page.counted = len(captured.captured_queries)
        page.statements = _median_statements(runs)


def _median_statements(runs: list[list[Statement]]) -> list[Statement]:
    """Each statement with its median time over the runs (a page runs the same statements in
    the same order every time; if not, the last run as it was)."""
    if len({len(run) for run in runs}) != 1:
        return runs[-1]
    return [
        Statement(statistics.median(s.ms for s in same), same[-1].sql, same[-1].params)
        for same in zip(*runs, strict=True)
    ]


def _slowest(page: Page) -> Statement | None:
    return max(page.statements, key=lambda q: q.ms, default=None)


def _unbounded_counts(page: Page) -> list[Statement]:
    return [q for q in page.statements if COUNT_RE.search(q.sql) and "LIMIT" not in q.sql.upper()]


def explain(statement: Statement) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", statement.params)
        return [row[0] for row in cursor.fetchall()]


# --- report ----------------------------------------------------------------------------------


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _without_select_list(sql: str) -> str:
    """``SELECT … FROM …``: the select list (which may hold subqueries) cut at its own FROM."""
    if not sql.startswith("SELECT "):
        return sql
    depth = 0
    for i, char in enumerate(sql):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and sql.startswith(" FROM ", i):
            distinct = "DISTINCT " if sql.startswith("SELECT DISTINCT ") else ""
            return f"SELECT {distinct}…{sql[i:]}"
    return sql


def _short(sql: str, width: int = 220) -> str:
    """One line; a long select list shown as "…" (the tables and conditions say more)."""
    sql = " ".join(sql.split())
    if len(sql) > width:
        sql = _without_select_list(sql)
    return sql if len(sql) <= width else sql[: width - 1] + "…"


def report_seed(seeded: dict, seconds: float) -> None:
    c, t = seeded["counts"], seeded["timings"]
    steps = ", ".join(f"{name} {secs:.1f}" for name, secs in t.items())
    print(
        f"seed: {c['cases']} cases ({c['open']} open) in {c['queues']} queues, "
        f"{c['identities']} identities, {c['authenticators']} authenticators, "
        f"{c['channels']} channels of record, {c['evidence']} evidence, {c['approvals']} "
        f"approvals, {c['events']} audit events ({c['events'] / c['cases']:.1f} per case); "
        f"no simple-history rows"
    )
    print(
        f"  seeded in {seconds:.1f} s ({steps} s); PostgreSQL {connection.pg_version // 10000}, "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, {_load()}"
    )


def report(pages: list[Page], floor: Floor, facts: dict, args) -> None:
    case = facts["case"]
    print(
        f"signed in: agent {facts['agent'].username} ({facts['agent_open']} open cases of its "
        f"own), manager {facts['manager'].username} ({facts['awaiting_manager']} cases awaiting "
        f"a manager's approval), reviewer {facts['reviewer'].username}"
    )
    print(
        f"  queue {facts['queue'].name}; case page "
        f"{case.reference if case else '-'} ({case.state if case else '-'}, "
        f"{facts['case_events']} audit events); trail identity {facts['frequent'].username} "
        f"({facts['frequent_events']} audit events); statement_timeout "
        f"{facts['statement_timeout']}"
    )
    print(
        f"pages: {args.requests} requests each after {WARMUP} warm-up requests, Django test "
        f"Client in process (wall time; nearest-rank percentiles); SQL: statements per request, "
        f"session included; SQL ms: their summed time and slowest: the slowest statement, each "
        f"statement's median over {COUNTED} more requests"
    )
    print(f"  {'page':<11} {'as':<9} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>5} {'SQL ms':>7}  slowest")
    for page in [*pages, floor.page]:
        if not page.available:
            print(f"  {page.name}: not available ({page.status or 'no URL'})")
            continue
        slow = _slowest(page)
        sql_ms = sum(q.ms for q in page.statements)
        print(
            f"  {page.name:<11} {page.who:<9} {percentile(page.ms, 50):8.1f} "
            f"{percentile(page.ms, 95):8.1f} {page.counted:5d} {sql_ms:7.1f}  "
            f"{slow.ms if slow else 0.0:.1f} ms"
        )
    print(
        f"  {'floor SQL':<11} {'':<9} {percentile(floor.select_ms, 50):8.2f} "
        f"{percentile(floor.select_ms, 95):8.2f}     1           (SELECT id by primary key)"
    )
    print("  the floor page is the password change form: an admin page that reads no case")
    for page in pages:
        if not page.available:
            continue
        print(f"  {page.name}: {page.url}{' (' + page.note + ')' if page.note else ''}")
        slow = _slowest(page)
        if slow:
            print(f"    slowest {slow.ms:.1f} ms: {_short(slow.text())}")
        for q in _unbounded_counts(page):
            print(f"    COUNT without LIMIT {q.ms:.1f} ms: {_short(q.text(), 160)}")
        if args.sql:
            for q in page.statements:
                print(f"      {q.ms:7.2f} ms  {_short(q.text(), 400)}")
        if args.explain and slow:
            for line in explain(slow):
                print(f"      {line}")
    print(f"  {_load()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also EXPLAIN (ANALYZE, BUFFERS) each page's slowest statement",
    )
    parser.add_argument(
        "--sql", action="store_true", help="also print every statement of each counted request"
    )
    parser.add_argument(
        "--reuse-seed",
        action="store_true",
        help="measure the desk this script seeded last time, without seeding again, when it "
        "holds exactly --cases cases (to measure again after a code change)",
    )
    args = parser.parse_args(argv)
    # Sign-ins (django-axes) and a page's 500 (printed as "not available") would flood the output.
    logging.getLogger("axes").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    if connection.vendor != "postgresql":
        print(
            "bench/admin_pages.py measures PostgreSQL: set DATABASE_URL=postgres://... "
            f"(refused: {connection.vendor})"
        )
        return 2

    staff = ensure_staff()
    reused = (
        args.reuse_seed
        and Identity.objects.filter(username=seed_scale.FREQUENT_CALLER).exists()
        and RecoveryCase.objects.count() == args.cases
    )
    if reused:
        print(
            f"seed: reused the {args.cases} cases seeded before (--reuse-seed); "
            f"{AuditEvent.objects.count()} audit events; PostgreSQL "
            f"{connection.pg_version // 10000}, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} "
            f"CPUs, {_load()}"
        )
    else:
        start = time.perf_counter()
        seeded = seed_scale.seed(cases=args.cases, staff=staff)
        report_seed(seeded, time.perf_counter() - start)

    pages, facts = build_pages(staff)
    any_case = facts["case"] or RecoveryCase.objects.order_by("-pk").first()
    floor = Floor(pages[0].client, any_case.pk)
    measure(pages, floor, args.requests)
    report(pages, floor, facts, args)

    by_name = {p.name: p for p in pages}
    p95 = {
        name: round(percentile(by_name[name].ms, 95)) if by_name[name].available else -1
        for name in TARGETS_MS
    }
    verdicts = []
    for name, target in TARGETS_MS.items():
        verdict = "not available" if p95[name] < 0 else "ok" if p95[name] <= target else "MISSED"
        verdicts.append(f"{name} p95 <= {target} ms {verdict}")
    print(f"targets: {', '.join(verdicts)}")
    print(
        f"queue_page_p95_ms={p95['queue']} case_page_p95_ms={p95['case page']} "
        f"trail_p95_ms={p95['trail']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
