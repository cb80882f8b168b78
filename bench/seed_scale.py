"""A desk at scale in a few set-based statements: identities, their authenticators and channels,
cases across the three queues and every state, evidence, approvals and the audit trail.

Used by ``bench/admin_pages.py``. PostgreSQL only: every table is filled by one
``INSERT … SELECT`` over ``generate_series`` (no row goes through the ORM), so a million
cases take minutes, not the hours the builders' real service calls would (bench/README.md).

The shape, for ``cases`` = N:

- N/5 identities (at least enough for the open cases): 2 % service identities (each owned by
  the identity before it), then about 70 % standard, 15 % contractor, 13 % privileged; 3 %
  locked, 2 % disabled. Each has a TOTP authenticator "Phone"; every third one also an "Old
  phone" (the one an MFA re-bind of theirs replaces). Each has an email channel of record,
  every other one an SMS channel too.
- Cases: 55 % password reset, 30 % MFA re-bind, 15 % reactivation, opened over the past year,
  ids in opening order. The newest ``open_cases`` (0.5 % of N, at least 200, at most N/10)
  are open, opened within the last 20 hours: 30 % new, 20 % verifying, 4 % escalated, 20 %
  awaiting approval, 8 % cooling off, 8 % ready, 2 % executing, 8 % execution failed (stages
  the pinned policy skips are skipped). The rest are closed: 70 % completed, 10 % rejected
  (40 % of those denied by an approver where the policy asks for approval), 10 % expired,
  6 % cancelled (disputed), 4 % abandoned. Open cases have distinct subjects, so "one open
  case per subject and kind" holds.
- Each case carries its pinned policy (``cases.policy.policy_for(...).to_snapshot()``), the
  stamps of the stages it went through, its evidence (12 % of claimed cases one failed check
  first; escalated cases three), its approvals (by the managers, or the security reviewers
  where the policy asks for them; never by the case's opener or agent, so the approvals'
  separation-of-duties trigger accepts every row), and one audit event per step it took,
  with ``case_id`` and ``identity_id`` set, in time order (ids follow ``occurred_at``).
- One identity, ``FREQUENT_CALLER``, is the subject of many closed cases (N/200, at least 20,
  at most 500): the trail's busy identity.
- No simple-history rows: the pages measured do not read them, and the bench measures reads.

Staff are real users made by the caller (``tests.cases.factories``); the seed spreads the
cases over them: ``agents`` open, claim and verify, ``managers`` and ``reviewers`` decide.
"""

import json
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from approvals.models import Approval
from audit.models import AuditEvent
from cases.models import BreakGlassReview, PolicyRule, Queue, RecoveryCase
from cases.policy import policy_for
from directory.models import (
    Authenticator,
    ChannelOfRecord,
    DirectorySession,
    Identity,
    ManagedDevice,
)
from verification.models import Evidence

FREQUENT_CALLER = "bench.frequent.caller"
RANDOM_SEED = 0.20261201  # setseed(): the same shape on every run
OPEN_WINDOW = timedelta(hours=20)  # open cases were opened within the last 20 hours
YEAR = timedelta(days=365)
CLOSED_BEFORE = timedelta(days=2)  # closed cases were opened before this (closed by now)

# Everything the seed owns: emptied (TRUNCATE … CASCADE) before every run, with history.
SEEDED_MODELS = (
    Approval,
    AuditEvent,
    Evidence,
    BreakGlassReview,
    RecoveryCase,
    Authenticator,
    ChannelOfRecord,
    DirectorySession,
    ManagedDevice,
    Identity,
)


@dataclass(frozen=True)
class SeedStaff:
    agents: list  # agents[0] is the measured agent
    managers: list  # managers[0] is the measured manager: no seeded decision on an open case
    reviewers: list


def _tables() -> list[str]:
    tables = []
    for model in SEEDED_MODELS:
        if hasattr(model, "history"):
            tables.append(model.history.model._meta.db_table)
        tables.append(model._meta.db_table)
    return tables


def _coprime(n: int) -> int:
    """A multiplier that maps consecutive case ids to distinct identities (mod n)."""
    for p in (7919, 104729, 1299709, 15485863):
        if math.gcd(p, n) == 1:
            return p
    raise ValueError(f"no coprime multiplier for {n}")  # pragma: no cover


def shape(cases: int) -> dict:
    open_cases = max(cases * 5 // 1000, min(cases // 10, 200))
    identities = max(cases // 5, open_cases + 10)
    frequent = max(20, min(500, cases // 200))
    closed = cases - open_cases
    return {
        "n": cases,
        "closed": closed,
        "w": open_cases,
        "n_ident": identities,
        "p": _coprime(identities),
        "stride": max(1, closed // frequent),
    }


# --- SQL -----------------------------------------------------------------------------------
# The identity's tier from its id (the same expression wherever the tier is needed).
TIER_SQL = """CASE WHEN mod({id}, 50) = 0 THEN 'service'
     WHEN mod({id} * 37, 100) < 70 THEN 'standard'
     WHEN mod({id} * 37, 100) < 85 THEN 'contractor'
     ELSE 'privileged' END"""

IDENTITIES_SQL = f"""
INSERT INTO directory_identity (id, username, display_name, employee_id, manager_id, owner_id,
    risk_tier, account_state, staff_user_id, password_hash, password_changed_at, created_at)
SELECT g,
       CASE WHEN g = 1 THEN %(frequent)s ELSE 'bench.person' || g END,
       'Person ' || g, 'E' || lpad(g::text, 7, '0'), NULL,
       CASE WHEN mod(g, 50) = 0 THEN g - 1 END,
       {TIER_SQL.format(id="g")},
       CASE WHEN mod(g * 53, 100) < 3 THEN 'locked' WHEN mod(g * 53, 100) < 5 THEN 'disabled'
            ELSE 'active' END,
       NULL, '', NULL, %(now)s - interval '400 days'
FROM generate_series(1, %(n_ident)s::bigint) AS g
"""

# "Phone" of identity g has id g; "Old phone" (every third identity) has id n_ident + g.
AUTHENTICATORS_SQL = """
INSERT INTO directory_authenticator (id, identity_id, kind, label, key, step, digits, tolerance,
    last_t, bound_at, revoked_at)
SELECT a.id, a.identity_id, 'totp', a.label,
       md5(a.id::text || 'bench') || substr(md5(a.id::text), 1, 8),
       30, 6, 1, -1, %(now)s - interval '390 days' + interval '1 day' * mod(a.identity_id, 300),
       NULL
FROM (SELECT g AS id, g AS identity_id, 'Phone' AS label
        FROM generate_series(1, %(n_ident)s::bigint) AS g
      UNION ALL
      SELECT %(n_ident)s + g, g, 'Old phone'
        FROM generate_series(1, %(n_ident)s::bigint) AS g WHERE mod(g, 3) = 0) AS a
"""

CHANNELS_SQL = """
INSERT INTO directory_channelofrecord (identity_id, kind, address, verified_at, added_at)
SELECT g, 'email', 'person' || g || '@example.com', %(now)s - interval '380 days',
       %(now)s - interval '390 days'
FROM generate_series(1, %(n_ident)s::bigint) AS g
UNION ALL
SELECT g, 'sms', '+4479' || lpad(g::text, 8, '0'), %(now)s - interval '380 days',
       %(now)s - interval '390 days'
FROM generate_series(1, %(n_ident)s::bigint) AS g WHERE mod(g, 2) = 0
"""

POLICY_TABLE_SQL = """
CREATE TEMP TABLE bench_policy (
    kind text, risk_tier text, rule_id bigint, version int, snapshot jsonb, approvals int,
    approver_role text, cooling_off interval, claim_deadline interval, verify_deadline interval,
    approval_deadline interval, ready_deadline interval) ON COMMIT DROP
"""

# One row per case: what happened to it (flags) and when (opened_at + fraction x life).
PLAN_SQL = f"""
CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
WITH g AS (
    SELECT i AS id, i > %(closed)s AS is_open,
           random() AS r_kind, random() AS r_state, random() AS r_time, random() AS r_path,
           random() AS r_fail, random() AS r_life, random() AS r_channel
    FROM generate_series(1, %(n)s::bigint) AS i
), s AS (
    SELECT g.*,
        CASE WHEN NOT is_open AND mod(id, %(stride)s) = 0 THEN 1
             ELSE 1 + mod(id * %(p)s, %(n_ident)s) END AS subject_id,
        CASE WHEN r_kind < 0.55 THEN 'password_reset' WHEN r_kind < 0.85 THEN 'mfa_rebind'
             ELSE 'reactivation' END AS kind,
        CASE WHEN is_open THEN
            CASE WHEN r_state < 0.30 THEN 'new' WHEN r_state < 0.50 THEN 'verifying'
                 WHEN r_state < 0.54 THEN 'escalated' WHEN r_state < 0.74 THEN 'awaiting_approval'
                 WHEN r_state < 0.82 THEN 'cooling_off' WHEN r_state < 0.90 THEN 'ready'
                 WHEN r_state < 0.92 THEN 'executing' ELSE 'execution_failed' END
        ELSE
            CASE WHEN r_state < 0.70 THEN 'completed' WHEN r_state < 0.80 THEN 'rejected'
                 WHEN r_state < 0.90 THEN 'expired' WHEN r_state < 0.96 THEN 'cancelled'
                 ELSE 'abandoned' END
        END AS planned,
        CASE WHEN is_open
             THEN %(now)s - %(open_window)s * (1 - (id - %(closed)s - 1 + r_time) / %(w)s)
             ELSE %(now)s - %(year)s + (%(year)s - %(closed_before)s)
                  * ((id - 1 + r_time) / %(closed)s) END AS opened_at,
        mod(id * 7, %(n_agents)s) AS agent_ix
    FROM g
), p AS (
    SELECT s.*, {TIER_SQL.format(id="s.subject_id")} AS tier FROM s
), t AS (
    SELECT p.*, bp.rule_id, bp.version, bp.snapshot, bp.approvals, bp.approver_role,
        bp.cooling_off, bp.claim_deadline, bp.verify_deadline, bp.approval_deadline,
        bp.ready_deadline,
        CASE WHEN planned = 'awaiting_approval' AND bp.approvals = 0 THEN
                  CASE WHEN bp.cooling_off > interval '0' THEN 'cooling_off' ELSE 'ready' END
             WHEN planned = 'cooling_off' AND bp.cooling_off = interval '0' THEN 'ready'
             ELSE planned END AS state
    FROM p JOIN bench_policy bp ON bp.kind = p.kind AND bp.risk_tier = p.tier
)
SELECT id, is_open, subject_id, kind, tier, state, rule_id, version, approvals,
    approver_role, cooling_off, claim_deadline, verify_deadline, approval_deadline,
    ready_deadline, opened_at,
    CASE WHEN is_open THEN %(now)s - opened_at
         ELSE interval '1 hour' + interval '29 hours' * r_life END AS life,
    (ARRAY['phone', 'chat', 'walk_in', 'ticket'])[1 + floor(r_channel * 4)::int] AS channel,
    (%(agents)s::int[])[1 + agent_ix] AS agent,
    (%(agents)s::int[])[1 + mod(agent_ix + 1 + mod(id, %(n_agents)s - 1), %(n_agents)s)]
        AS opener,
    CASE WHEN mod(subject_id, 50) = 0 THEN subject_id - 1 ELSE subject_id END AS holder,
    state <> 'new' AND NOT (state IN ('expired', 'cancelled') AND r_path < 0.6) AS claimed,
    state = 'rejected' AND approvals > 0 AND r_path < 0.4 AS denied,
    state = 'escalated' AS escalated,
    state IN ('awaiting_approval', 'cooling_off', 'ready', 'executing', 'execution_failed',
              'completed', 'abandoned')
        OR (state = 'rejected' AND approvals > 0 AND r_path < 0.4) AS verified,
    CASE WHEN state IN ('cooling_off', 'ready', 'executing', 'execution_failed', 'completed',
                        'abandoned') THEN approvals
         WHEN state = 'awaiting_approval' AND approvals = 2 AND r_path < 0.5 THEN 1
         ELSE 0 END AS granted,
    state IN ('cooling_off', 'ready', 'executing', 'execution_failed', 'completed', 'abandoned')
        AND cooling_off > interval '0' AS held,
    state IN ('ready', 'executing', 'execution_failed', 'completed', 'abandoned') AS readied,
    state IN ('executing', 'execution_failed', 'completed', 'abandoned') AS executed,
    state IN ('execution_failed', 'abandoned') AS exec_failed,
    NOT is_open AS closed,
    CASE WHEN state = 'escalated' THEN 3
         WHEN state <> 'new' AND NOT (state IN ('expired', 'cancelled') AND r_path < 0.6)
              AND r_fail < 0.12 THEN 1
         ELSE 0 END AS failures
FROM t
"""

# Stage times, as fractions of the case's life: claim .10, failed checks .12/.14/.16, escalate
# .18, passed check .25, verify .30, approvals .40/.45, end of hold .70, execute .80, directory
# failure .90, closing 1.0.
CASES_SQL = """
INSERT INTO cases_recoverycase (id, state, kind, queue_id, subject_id, replaced_authenticator_id,
    intake_channel, external_ticket, opened_by_id, assigned_agent_id, verified_by_id, risk_tier,
    policy_rule_id, policy_version, policy_snapshot, failed_checks, gap_released_by_id,
    break_glass_by_id, break_glass_reason, break_glass_justification, closing_reason,
    execution_attempts, execution_error, opened_at, claimed_at, escalated_at, released_at,
    verified_at, approved_at, cooling_off_at, ready_at, execution_started_at,
    execution_attempted_at, closed_at, hold_until, expires_at)
SELECT p.id, p.state, p.kind, q.id, subject_id,
    CASE WHEN p.kind = 'mfa_rebind' AND mod(subject_id, 3) = 0 THEN %(n_ident)s + subject_id END,
    channel, CASE WHEN channel = 'ticket' THEN 'INC' || lpad(p.id::text, 7, '0') ELSE '' END,
    opener, CASE WHEN claimed THEN agent END, CASE WHEN verified THEN agent END, tier,
    rule_id, p.version, bp.snapshot, failures, NULL, NULL, '', '',
    CASE WHEN denied THEN 'Approver: the caller could not confirm the request.'
         WHEN state = 'rejected' THEN 'Caller could not read a code'
         WHEN state = 'cancelled' THEN 'This was not me.'
         WHEN state = 'abandoned' THEN 'The directory account was migrated.'
         ELSE '' END,
    CASE WHEN exec_failed THEN 3 WHEN executed THEN 1 ELSE 0 END,
    CASE WHEN exec_failed THEN 'The directory did not answer.' ELSE '' END,
    opened_at,
    CASE WHEN claimed THEN opened_at + life * 0.10 END,
    CASE WHEN escalated THEN opened_at + life * 0.18 END,
    NULL,
    CASE WHEN verified THEN opened_at + life * 0.30 END,
    CASE WHEN granted > 0 AND granted = approvals THEN opened_at + life * (0.35 + 0.05 * approvals)
         END,
    CASE WHEN held THEN opened_at + life * (0.35 + 0.05 * greatest(approvals, 1)) END,
    CASE WHEN readied THEN opened_at + life * (CASE WHEN held THEN 0.70
         ELSE 0.35 + 0.05 * greatest(approvals, 1) END) END,
    CASE WHEN executed THEN opened_at + life * 0.80 END,
    CASE WHEN executed THEN opened_at + life * (CASE WHEN exec_failed THEN 0.90 ELSE 0.80 END)
         END,
    CASE WHEN closed THEN opened_at + life END,
    CASE WHEN held THEN opened_at + life * (0.35 + 0.05 * greatest(approvals, 1)) + cooling_off
         END,
    CASE state
        WHEN 'new' THEN opened_at + claim_deadline
        WHEN 'verifying' THEN opened_at + life * 0.10 + verify_deadline
        WHEN 'awaiting_approval' THEN opened_at + life * 0.30 + approval_deadline
        WHEN 'ready' THEN opened_at + life * (CASE WHEN held THEN 0.70
                          ELSE 0.35 + 0.05 * greatest(approvals, 1) END) + ready_deadline
    END
FROM bench_plan p JOIN cases_queue q ON q.kind = p.kind
JOIN (SELECT kind AS policy_kind, risk_tier AS policy_tier, snapshot FROM bench_policy) bp
    ON bp.policy_kind = p.kind AND bp.policy_tier = p.tier
"""

# Evidence ids from the case id: passed 4c, failed 4c-1, 4c-2, 4c-3.
EVIDENCE_SQL = """
INSERT INTO verification_evidence (id, case_id, method, factor, outcome, score,
    authenticator_id, answered_by_id, checked_by_id, checked_at, detail)
SELECT p.id * 4 - e.k, p.id, 'totp', 'enrolled_authenticator', e.outcome,
       CASE WHEN e.outcome = 'passed' THEN 2 ELSE 0 END, p.holder, p.holder, p.agent,
       p.opened_at + p.life * e.at, '{}'::jsonb
FROM bench_plan p
CROSS JOIN LATERAL (VALUES
    (0, 'passed', 0.25, p.verified),
    (1, 'failed', 0.12, p.failures >= 1),
    (2, 'failed', 0.14, p.failures >= 2),
    (3, 'failed', 0.16, p.failures >= 3)) AS e(k, outcome, at, keep)
WHERE e.keep
"""

# Approvers: the pool of the policy's approver role; an open case's approvals never come from
# the measured manager (pool[1]), so the inbox shows it cases still to decide.
APPROVALS_SQL = """
INSERT INTO approvals_approval (case_id, approver_id, decision, reason, decided_at, valid_until,
    case_opened_by_id, case_verified_by_id)
SELECT p.id, a.approver, d.decision, d.reason, p.opened_at + p.life * d.at,
       p.opened_at + p.life * d.at + p.approval_deadline, p.opener, p.agent
FROM bench_plan p
CROSS JOIN LATERAL (SELECT CASE WHEN p.approver_role = 'security_reviewer'
                           THEN %(reviewers)s::int[] ELSE %(managers)s::int[] END AS pool) AS r
CROSS JOIN LATERAL (VALUES
    (0, 'approved', 'Checked the evidence', 0.40, p.granted >= 1),
    (1, 'approved', 'Checked the evidence', 0.45, p.granted >= 2),
    (2, 'denied', 'The caller could not confirm the request.', 1.0, p.denied)) AS d(j, decision,
        reason, at, keep)
CROSS JOIN LATERAL (SELECT CASE WHEN p.is_open
        THEN r.pool[2 + mod(p.id + d.j, cardinality(r.pool) - 1)]
        ELSE r.pool[1 + mod(p.id + d.j, cardinality(r.pool))] END AS approver) AS a
WHERE d.keep
"""

# One event per step taken, in time order; each decision's actor is the approver of its
# Approval row (the same slots as APPROVALS_SQL).
EVENTS_SQL = """
INSERT INTO audit_auditevent (occurred_at, actor_id, actor_kind, actor_label, action, case_id,
    identity_id, old_state, new_state, detail)
SELECT p.opened_at + p.life * e.at, e.actor, e.kind, coalesce(u.username, e.kind), e.action,
       p.id, p.subject_id, e.old, e.new, e.detail
FROM bench_plan p
CROSS JOIN LATERAL (SELECT
    CASE WHEN p.approvals > 0 THEN 'awaiting_approval'
         WHEN p.cooling_off > interval '0' THEN 'cooling_off' ELSE 'ready' END AS verified_to,
    CASE WHEN p.cooling_off > interval '0' THEN 'cooling_off' ELSE 'ready' END AS approved_to,
    CASE WHEN p.claimed THEN 'verifying' ELSE 'new' END AS last_open,
    CASE WHEN p.approver_role = 'security_reviewer' THEN %(reviewers)s::int[]
         ELSE %(managers)s::int[] END AS pool) AS x
CROSS JOIN LATERAL (SELECT
    CASE WHEN p.is_open THEN x.pool[2 + mod(p.id, cardinality(x.pool) - 1)]
         ELSE x.pool[1 + mod(p.id, cardinality(x.pool))] END AS first_approver,
    CASE WHEN p.is_open THEN x.pool[2 + mod(p.id + 1, cardinality(x.pool) - 1)]
         ELSE x.pool[1 + mod(p.id + 1, cardinality(x.pool))] END AS second_approver,
    x.pool[1 + mod(p.id + 2, cardinality(x.pool))] AS denier) AS y
CROSS JOIN LATERAL (VALUES
    (true, 0.0, p.opener, 'staff', 'case.open', '', 'new',
     jsonb_build_object('policy_version', p.version, 'intake_channel', p.channel)),
    (p.claimed, 0.10, p.agent, 'staff', 'case.claim', 'new', 'verifying', '{}'::jsonb),
    (p.failures >= 1, 0.12, p.agent, 'staff', 'evidence.failed', '', '',
     jsonb_build_object('evidence_id', p.id * 4 - 1, 'method', 'totp', 'outcome', 'failed')),
    (p.failures >= 2, 0.14, p.agent, 'staff', 'evidence.failed', '', '',
     jsonb_build_object('evidence_id', p.id * 4 - 2, 'method', 'totp', 'outcome', 'failed')),
    (p.escalated, 0.18, NULL, 'system', 'case.escalate', 'verifying', 'escalated',
     jsonb_build_object('evidence_id', p.id * 4 - 3, 'failures', 3)),
    (p.verified, 0.25, p.agent, 'staff', 'evidence.passed', '', '',
     jsonb_build_object('evidence_id', p.id * 4, 'method', 'totp', 'outcome', 'passed')),
    (p.verified, 0.30, p.agent, 'staff', 'case.verify', 'verifying', x.verified_to,
     '{"methods": ["totp"], "score": 2}'::jsonb),
    (p.granted >= 1 AND p.approvals = 2, 0.40, y.first_approver, 'staff', 'approval.grant', '', '',
     jsonb_build_object('approvals', 1, 'of', p.approvals)),
    (p.granted >= 1 AND p.granted = p.approvals, 0.35 + 0.05 * p.approvals,
     CASE WHEN p.approvals = 2 THEN y.second_approver ELSE y.first_approver END, 'staff',
     'case.approve', 'awaiting_approval', x.approved_to,
     jsonb_build_object('approvals', p.approvals, 'of', p.approvals)),
    (p.held AND p.readied, 0.70, NULL, 'system', 'case.end_hold', 'cooling_off', 'ready',
     '{}'::jsonb),
    (p.executed, 0.80, p.agent, 'staff', 'case.execute', 'ready', 'executing', '{}'::jsonb),
    (p.exec_failed, 0.90, NULL, 'system', 'case.execution_failed', 'executing',
     'execution_failed', '{"attempts": 3, "error": "The directory did not answer."}'::jsonb),
    (p.state = 'completed', 1.0, NULL, 'system', 'case.execution_done', 'executing', 'completed',
     '{"attempts": 1, "directory": {"revoke_sessions": 1, "unlock": 0}}'::jsonb),
    (p.state = 'abandoned', 1.0, p.agent, 'staff', 'case.abandon', 'execution_failed',
     'abandoned', '{"reason": "The directory account was migrated."}'::jsonb),
    (p.state = 'rejected' AND NOT p.denied, 1.0, p.agent, 'staff', 'case.reject', 'verifying',
     'rejected', '{"reason": "Caller could not read a code"}'::jsonb),
    (p.denied, 1.0, y.denier, 'staff', 'case.deny', 'awaiting_approval', 'rejected',
     '{"reason": "The caller could not confirm the request."}'::jsonb),
    (p.state = 'cancelled', 1.0, NULL, 'subject', 'case.dispute', x.last_open, 'cancelled',
     '{}'::jsonb),
    (p.state = 'expired', 1.0, NULL, 'system', 'case.expire', x.last_open, 'expired',
     '{}'::jsonb)
    ) AS e(keep, at, actor, kind, action, old, new, detail)
LEFT JOIN auth_user u ON u.id = e.actor
WHERE e.keep
ORDER BY p.opened_at + p.life * e.at, p.id
"""


def seed(*, cases: int, staff: SeedStaff) -> dict:
    """Empty the seeded tables, fill them at the shape above, VACUUM (ANALYZE) them. Returns
    counts, timings and the shape."""
    if connection.vendor != "postgresql":
        raise RuntimeError("seed_scale needs PostgreSQL")
    if len(staff.managers) < 3 or len(staff.reviewers) < 3 or len(staff.agents) < 2:
        raise ValueError("need 2 agents, 3 managers and 3 reviewers at least")
    params = shape(cases)
    now = timezone.now()
    params.update(
        now=now,
        frequent=FREQUENT_CALLER,
        open_window=OPEN_WINDOW,
        year=YEAR,
        closed_before=CLOSED_BEFORE,
        agents=[u.pk for u in staff.agents],
        n_agents=len(staff.agents),
        managers=[u.pk for u in staff.managers],
        reviewers=[u.pk for u in staff.reviewers],
    )
    timings: dict[str, float] = {}

    def run(label: str, cursor, sql: str) -> int:
        start = time.perf_counter()
        cursor.execute(sql, params)
        timings[label] = time.perf_counter() - start
        return cursor.rowcount

    counts = {}
    # Bulk statements run for minutes at a million cases: the seed lifts the statement timeout
    # (settings.STATEMENT_TIMEOUT_MS) on its own session and puts it back for the pages.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        timeout = cursor.fetchone()[0]
        cursor.execute("SET statement_timeout = 0")
    try:
        _fill(params, counts, timings, run)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [timeout])
    counts["queues"] = Queue.objects.count()
    return {"counts": counts, "timings": timings, "shape": params}


def _fill(params: dict, counts: dict, timings: dict, run) -> None:
    from bench.guard import refuse_a_real_desk

    refuse_a_real_desk()
    with transaction.atomic(), connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(f"TRUNCATE {', '.join(_tables())} RESTART IDENTITY CASCADE")
        timings["truncate"] = time.perf_counter() - start
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SELECT setseed(%s)", [RANDOM_SEED])
        cursor.execute(POLICY_TABLE_SQL)
        rows = []
        for rule in PolicyRule.objects.order_by("kind", "risk_tier"):
            policy = policy_for(kind=rule.kind, risk_tier=rule.risk_tier)
            rows.append(
                (
                    rule.kind,
                    rule.risk_tier,
                    rule.pk,
                    rule.version,
                    json.dumps(policy.to_snapshot()),
                    policy.approvals_required,
                    policy.approver_role,
                    policy.cooling_off,
                    policy.claim_deadline,
                    policy.verify_deadline,
                    policy.approval_deadline,
                    policy.ready_deadline,
                )
            )
        cursor.executemany(
            "INSERT INTO bench_policy VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, "
            "%s)",
            rows,
        )
        counts["identities"] = run("identities", cursor, IDENTITIES_SQL)
        counts["authenticators"] = run("authenticators", cursor, AUTHENTICATORS_SQL)
        counts["channels"] = run("channels", cursor, CHANNELS_SQL)
        run("plan", cursor, PLAN_SQL)
        counts["cases"] = run("cases", cursor, CASES_SQL)
        counts["evidence"] = run("evidence", cursor, EVIDENCE_SQL)
        counts["approvals"] = run("approvals", cursor, APPROVALS_SQL)
        counts["events"] = run("events", cursor, EVENTS_SQL)
        cursor.execute("SELECT count(*) FROM bench_plan WHERE is_open")
        counts["open"] = cursor.fetchone()[0]
        for model in (Identity, Authenticator, RecoveryCase, Evidence):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        start = time.perf_counter()
    # The foreign keys are DEFERRABLE INITIALLY DEFERRED: the commit checks every row's.
    timings["commit"] = time.perf_counter() - start
    # Planner statistics and the visibility map, as autovacuum would leave a table at rest.
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    timings["vacuum analyze"] = time.perf_counter() - start
