from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet

from directory.models import ChannelOfRecord, Identity, RiskTier

from .errors import Refusal
from .models import ApproverRole, Queue, RecoveryCase
from .policy import duration_words
from .states import OPEN_STATES, Kind, State
from .transitions import TRANSITIONS, refusal_for


def queue_cases(*, queue: Queue, states: frozenset[str] = OPEN_STATES) -> QuerySet[RecoveryCase]:
    """The queue listing: oldest first, everything a row shows fetched in the same query."""
    return (
        RecoveryCase.objects.filter(queue=queue, state__in=sorted(states))
        .select_related("subject", "assigned_agent", "opened_by", "queue")
        .annotate(
            passed_evidence=Count("evidence", filter=Q(evidence__outcome="passed"), distinct=True),
            approvals_granted=Count(
                "approvals", filter=Q(approvals__decision="approved"), distinct=True
            ),
        )
        .order_by("opened_at", "id")
    )


def claimable_count(*, queue: Queue) -> int:
    return RecoveryCase.objects.filter(queue=queue, state=State.NEW).count()


@dataclass(frozen=True)
class AvailableAction:
    """One thing a person might do to a case now: allowed, or the refusal that stops it."""

    name: str  # a transition of the table, or "evidence:<method>"
    label: str
    refusal: Refusal | None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def available_actions(case: RecoveryCase, user, now: datetime) -> list[AvailableAction]:
    """Every action of the transition table, and every evidence method, for ``user`` on
    ``case`` at ``now``, each allowed or with the refusal (code and sentence) the service would
    raise. Screens draw their buttons from this; the services ask the same rules.
    """
    from verification.methods import METHODS

    from .policy import pinned_policy

    actions = [
        AvailableAction(t.name, t.label, refusal_for(case, t.name, user, now))
        for t in TRANSITIONS.values()
        if t.name != "check_evidence"
    ]
    evidence_refusal = refusal_for(case, "check_evidence", user, now)
    policy = pinned_policy(case)
    for method in METHODS.values():
        refusal = evidence_refusal or method.is_allowed(case=case, policy=policy)
        actions.append(AvailableAction(f"evidence:{method.code}", method.label, refusal))
    return actions


def my_open_cases(*, agent, limit: int = 50) -> QuerySet[RecoveryCase]:
    """The agent's own open cases, oldest first (the desk home's first list)."""
    return (
        RecoveryCase.objects.filter(assigned_agent=agent, state__in=sorted(OPEN_STATES))
        .select_related("subject", "queue")
        .order_by("opened_at", "id")[:limit]
    )


@dataclass(frozen=True)
class QueueOverview:
    queue: Queue
    open_count: int
    claimable_count: int
    oldest_claimable_at: datetime | None
    now: datetime

    @property
    def oldest_age(self) -> timedelta | None:
        return None if self.oldest_claimable_at is None else self.now - self.oldest_claimable_at

    @property
    def behind(self) -> bool:
        """The oldest unclaimed case has waited longer than the queue's service target."""
        age = self.oldest_age
        return age is not None and age > self.queue.service_target


def queue_overviews(*, queue_ids, now: datetime) -> list[QueueOverview]:
    """Open and claimable counts and the oldest claimable case per queue, in two queries
    whatever the number of queues (open cases only: the index leads with queue and state)."""
    queues = Queue.objects.filter(pk__in=queue_ids).order_by("name")
    figures = {
        row["queue"]: row
        for row in RecoveryCase.objects.filter(
            queue_id__in=queue_ids, state__in=sorted(OPEN_STATES)
        )
        .values("queue")
        .annotate(
            open_count=Count("id"),
            claimable_count=Count("id", filter=Q(state=State.NEW)),
            oldest=Min("opened_at", filter=Q(state=State.NEW)),
        )
        .order_by()
    }
    return [
        QueueOverview(
            queue=queue,
            open_count=figures.get(queue.pk, {}).get("open_count", 0),
            claimable_count=figures.get(queue.pk, {}).get("claimable_count", 0),
            oldest_claimable_at=figures.get(queue.pk, {}).get("oldest"),
            now=now,
        )
        for queue in queues
    ]


# --- the case page (desk/views/case_page.py) -------------------------------------------------
# Every read the page makes, in a constant number of queries whatever the length of the case's
# history: the case with its people (1), its events, evidence and approvals (3,
# cases/timeline.py), the subject's channels and authenticators (2), the evidence summary (1),
# and the rules ``available_actions`` asks (a fixed number per action).

# A channel of record changed this recently is how an account takeover often starts (the
# attacker first swaps the phone number or mailbox): the page marks it.
RECENT_CHANNEL = timedelta(days=14)
# The channels a callback may go to (verification/methods/callback.py).
PHONE_KINDS = frozenset({ChannelOfRecord.Kind.SMS, ChannelOfRecord.Kind.VOICE})


def case_for_page(*, case_id: int) -> RecoveryCase | None:
    """The case and everyone the page names, in one query (no secret column loaded)."""
    case = (
        RecoveryCase.objects.select_related(
            "queue",
            "subject",
            "subject__owner",
            "assigned_agent",
            "opened_by",
            "verified_by",
            "break_glass_by",
            "gap_released_by",
            "replaced_authenticator",
        )
        .defer(
            "subject__password_hash",
            "subject__owner__password_hash",
            "replaced_authenticator__key",
        )
        .filter(pk=case_id)
    )
    try:
        return case.get()
    except RecoveryCase.DoesNotExist:
        return None


@dataclass(frozen=True)
class ChannelRow:
    id: int
    identity_id: int
    kind: str
    kind_label: str
    address: str
    added_at: datetime
    verified_at: datetime | None
    age: timedelta

    @property
    def recent(self) -> bool:
        return self.age < RECENT_CHANNEL

    @property
    def is_phone(self) -> bool:
        return self.kind in PHONE_KINDS

    @property
    def ending(self) -> str:
        """The last 4 digits of a phone number ("" for anything shorter)."""
        digits = "".join(ch for ch in self.address if ch.isascii() and ch.isdigit())
        return digits[-4:] if len(digits) >= 4 else ""

    @property
    def masked(self) -> str:
        """A phone number as a form may show it: its last 4 digits only."""
        dots = "\u2022" * 4
        return f"{dots} {self.ending}" if self.ending else dots


@dataclass(frozen=True)
class AuthenticatorRow:
    """An enrolled authenticator as staff may see it: what and since when, never its key."""

    id: int
    identity_id: int
    kind: str
    kind_label: str
    label: str
    bound_at: datetime
    age: timedelta
    active: bool
    being_replaced: bool


@dataclass(frozen=True)
class SubjectSummary:
    identity: Identity
    holder: Identity  # who answers: the subject, or a service identity's owner
    channels: list[ChannelRow]
    authenticators: list[AuthenticatorRow]  # the subject's
    holder_authenticators: list[AuthenticatorRow]  # the owner's; the subject's when the same
    evidence_choices: list[AuthenticatorRow]  # what may prove this case (independence rule)
    # The holder's SMS and voice channels of record: the numbers a callback may go to.
    phone_choices: list[ChannelRow] = field(default_factory=list)

    @property
    def answered_by_owner(self) -> bool:
        return self.holder.pk != self.identity.pk


def subject_summary(*, case: RecoveryCase, now: datetime) -> SubjectSummary:
    """Tier, account state, channels of record with their age and authenticators (two queries).

    ``phone_choices`` are the SMS and voice channels of the person who answers (the subject, or
    a service identity's owner), read by the same query as the subject's channels.

    ``evidence_choices`` follows the evidence service's independence rule: a re-bind is never
    proved with the authenticator it replaces, nor with any when it replaces them all.
    """
    from directory.models import Authenticator

    subject = case.subject
    holder = subject.owner if subject.risk_tier == RiskTier.SERVICE and subject.owner else subject
    channel_rows = [
        ChannelRow(
            id=c.pk,
            identity_id=c.identity_id,
            kind=c.kind,
            kind_label=str(c.get_kind_display()),
            address=c.address,
            added_at=c.added_at,
            verified_at=c.verified_at,
            age=now - c.added_at,
        )
        for c in ChannelOfRecord.objects.filter(identity_id__in={subject.pk, holder.pk}).order_by(
            "added_at", "pk"
        )
    ]
    channels = [c for c in channel_rows if c.identity_id == subject.pk]
    rows = [
        AuthenticatorRow(
            id=a.pk,
            identity_id=a.identity_id,
            kind=a.kind,
            kind_label=str(a.get_kind_display()),
            label=a.label,
            bound_at=a.bound_at,
            age=now - a.bound_at,
            active=a.revoked_at is None,
            being_replaced=a.pk == case.replaced_authenticator_id,
        )
        for a in Authenticator.objects.filter(identity_id__in={subject.pk, holder.pk})
        .only("pk", "identity_id", "kind", "label", "bound_at", "revoked_at")
        .order_by("bound_at", "pk")
    ]
    rebind_all = case.kind == Kind.MFA_REBIND and case.replaced_authenticator_id is None
    holder_rows = [r for r in rows if r.identity_id == holder.pk]
    return SubjectSummary(
        identity=subject,
        holder=holder,
        channels=channels,
        authenticators=[r for r in rows if r.identity_id == subject.pk],
        holder_authenticators=holder_rows,
        evidence_choices=[]
        if rebind_all
        else [r for r in holder_rows if r.active and not r.being_replaced],
        phone_choices=[c for c in channel_rows if c.identity_id == holder.pk and c.is_phone],
    )


@dataclass(frozen=True)
class ApprovalStatus:
    """The approvals the pinned policy asks for, those given and those still needed."""

    required: int
    role_label: str
    given: list  # approvals of this round that count now
    lapsed: list  # approvals of this round past their validity
    earlier: list  # decisions before a release (they no longer count)
    denial: object | None
    complete: bool
    skipped: bool  # break-glass skipped them

    @property
    def still_needed(self) -> int:
        if self.complete or self.skipped or self.denial is not None:
            return 0
        return max(0, self.required - len(self.given))


def approval_status(*, case: RecoveryCase, approvals: list, now: datetime) -> ApprovalStatus:
    """From the approvals already read (cases/timeline.py): no query."""
    from approvals.models import Approval

    policy = _pinned(case)
    released = case.released_at

    def this_round(a: Approval) -> bool:
        return released is None or a.decided_at > released

    current = [a for a in approvals if this_round(a)]
    approved = [a for a in current if a.decision == Approval.Decision.APPROVED]
    complete = case.approved_at is not None and (released is None or case.approved_at > released)
    return ApprovalStatus(
        required=policy.approvals_required,
        role_label=ApproverRole(policy.approver_role).label.lower(),
        # Once the case moved on, its approvals did their work: they no longer lapse.
        given=[a for a in approved if complete or a.valid_until > now],
        lapsed=[a for a in approved if not complete and a.valid_until <= now],
        earlier=[a for a in approvals if not this_round(a)],
        denial=next((a for a in current if a.decision == Approval.Decision.DENIED), None),
        complete=complete,
        skipped=case.break_glass_by_id is not None and not complete,
    )


def _pinned(case: RecoveryCase):
    from .policy import pinned_policy

    return pinned_policy(case)


def _fmt(moment: datetime) -> str:
    from .guards import fmt_utc

    return fmt_utc(moment)


def _words(delta: timedelta) -> str:
    """A duration in words ("4 hours", "1 day 2 hours"), like the desk's ``duration`` filter."""
    return "no time" if abs(delta) < timedelta(seconds=1) else duration_words(abs(delta), parts=2)


def _evidence_needs(case: RecoveryCase, summary) -> str:
    """What evidence still lacks, in words: "one more independent method: …"."""
    from verification.methods import METHODS

    policy = _pinned(case)
    methods_short = policy.min_independent_methods - len(summary.factors)
    score_short = policy.min_evidence_score - summary.score
    if methods_short <= 0 and score_short <= 0:
        return (
            f"Evidence meets the policy: a score of {summary.score} (needs "
            f"{policy.min_evidence_score}) from {len(summary.factors)} independent "
            f"method{'s' if len(summary.factors) != 1 else ''}."
        )
    candidates = [
        m
        for code, m in METHODS.items()
        if code in policy.allowed_methods and m.factor not in summary.factors
    ]
    if not candidates:
        return (
            f"Evidence scores {summary.score} of the {policy.min_evidence_score} needed, and no "
            "method this policy allows is left to try."
        )
    offered = "; or ".join(
        f"{m.label[:1].lower()}{m.label[1:]} (scores {m.strength})" for m in candidates
    )
    if methods_short > 0:
        count = (
            "One more independent method"
            if methods_short == 1
            else (f"{methods_short} more independent methods")
        )
        return f"{count}: {offered}."
    return f"Evidence worth {score_short} more: {offered}."


def policy_still_needs(
    *, case: RecoveryCase, summary, approvals: ApprovalStatus, now: datetime
) -> list[str]:
    """What the pinned policy still asks of this case before it can be carried out, in words,
    one sentence per step (evidence, approvals, cooling-off, execution)."""
    policy = _pinned(case)
    state = case.state
    if state not in OPEN_STATES:
        return [f"Nothing: the case is closed ({case.get_state_display().lower()})."]
    if state == State.EXECUTING:
        return ["Nothing from people: the directory step is under way."]
    if state == State.EXECUTION_FAILED:
        return [
            "The directory failed: the assigned agent retries it, or an agent of the queue "
            "abandons the case with a reason."
        ]
    needs: list[str] = []
    if state == State.NEW:
        needs.append("An agent of the queue claims the case.")
    if state == State.ESCALATED:
        needs.append(
            "A security reviewer who took no part releases the case to verification, or "
            "rejects it; evidence and approvals are then asked for again."
        )
    if state in (State.NEW, State.VERIFYING, State.ESCALATED):
        needs.append(_evidence_needs(case, summary))
        needs.append("The assigned agent closes verification.")
    before_approval = state in (State.NEW, State.VERIFYING, State.ESCALATED)
    if approvals.skipped:
        needs.append("Approvals and cooling-off: skipped by break-glass.")
    elif approvals.required and (before_approval or state == State.AWAITING_APPROVAL):
        given = len(approvals.given)
        still = approvals.required - given
        role = approvals.role_label
        if before_approval:
            needs.append(
                f"Then {approvals.required} approval{'s' if approvals.required != 1 else ''} "
                f"from a {role} who took no part."
            )
        else:
            needs.append(
                f"{'One more approval' if still == 1 else f'{still} more approvals'} from a "
                f"{role} who took no part ({given} of {approvals.required} given)."
            )
    if not approvals.skipped and policy.cooling_off and state != State.READY:
        if state == State.COOLING_OFF and case.hold_until is not None:
            if now < case.hold_until:
                needs.append(
                    f"Cooling-off until {_fmt(case.hold_until)} ({_words(case.hold_until - now)} "
                    "left), so the owner can dispute; then the system makes the case ready."
                )
            else:
                needs.append("Cooling-off is over; the system makes the case ready shortly.")
        else:
            needs.append(
                f"Then a cooling-off of {_words(policy.cooling_off)}, so the owner can dispute."
            )
    if state == State.READY:
        deadline = f" before {_fmt(case.expires_at)}" if case.expires_at else ""
        needs.append(f"The assigned agent executes it{deadline}.")
    elif state != State.NEW:
        needs.append("Then the assigned agent executes it.")
    return needs


def execution_plan(*, case: RecoveryCase) -> list[str]:
    """What executing this case will do on the directory, in words (cases/execution.py PLANS)."""
    subject = case.subject.display_name
    steps: list[str] = []
    if case.kind == Kind.REACTIVATION:
        steps.append(f"Enable the account of {subject}.")
    else:
        steps.append(f"Unlock the account of {subject} if it is locked (a disabled one stays so).")
    if case.kind == Kind.MFA_REBIND:
        replaced = case.replaced_authenticator
        steps.append(
            f"Revoke the authenticator '{replaced.label}'."
            if replaced is not None
            else "Revoke every authenticator of the account."
        )
    steps.append("End every open session of the account.")
    return steps


@dataclass(frozen=True)
class ExecutionOutcome:
    changes: list[str]
    tell_the_caller: str


def _changes(case: RecoveryCase, changed: dict) -> list[str]:
    def count(key: str) -> int:
        value = changed.get(key, 0)
        return value if isinstance(value, int) else 0

    lines = []
    if "enabled" in changed:
        lines.append(
            "The account was enabled." if count("enabled") else "The account was already enabled."
        )
    if "unlocked" in changed:
        lines.append(
            "The account was unlocked."
            if count("unlocked")
            else "The account was not locked: nothing to unlock."
        )
    if "authenticators_revoked" in changed:
        n = count("authenticators_revoked")
        replaced = case.replaced_authenticator
        named = f" ('{replaced.label}')" if replaced is not None and n == 1 else ""
        lines.append(
            f"{n} authenticator{'s' if n != 1 else ''} revoked{named}."
            if n
            else "No authenticator was left to revoke."
        )
    if "sessions_revoked" in changed:
        n = count("sessions_revoked")
        lines.append(
            f"{n} open session{'s' if n != 1 else ''} ended." if n else "No session was open."
        )
    return lines


_TELL_THE_CALLER: dict[str, str] = {
    Kind.PASSWORD_RESET: (
        "Your account is unlocked and you are signed out everywhere. You choose your new "
        "password yourself; nobody at the help desk will ever ask for it or choose it."
    ),
    Kind.MFA_REBIND: (
        "Your old authenticator no longer works and you are signed out everywhere. Enrol your "
        "new authenticator yourself at your next sign-in; nobody at the help desk will ask "
        "for its codes afterwards."
    ),
    Kind.REACTIVATION: (
        "Your account is enabled again and any old sessions were ended. You can sign in as before."
    ),
}
_IF_NOT_YOU = " If you did not ask for this, call the help desk at once."


def execution_outcome(*, case: RecoveryCase, records) -> ExecutionOutcome | None:
    """What the directory changed and what to tell the caller, once the case completed (from
    the ``case.execution_done`` event the system wrote): None before."""
    if case.state != State.COMPLETED:
        return None
    event = records.last_event("case.execution_done")
    detail = event.detail if event is not None and isinstance(event.detail, dict) else {}
    changed = detail.get("directory") if isinstance(detail.get("directory"), dict) else {}
    return ExecutionOutcome(
        changes=_changes(case, changed or {}),
        tell_the_caller=_TELL_THE_CALLER.get(case.kind, "") + _IF_NOT_YOU,
    )


@dataclass(frozen=True)
class CaseOverview:
    """Everything the case page shows, read at one moment ``now``."""

    case: RecoveryCase
    now: datetime
    policy: object
    subject: SubjectSummary
    evidence: object  # verification.selectors.EvidenceSummary
    evidence_checks: list  # this round's checks, oldest first
    approvals: ApprovalStatus
    still_needs: list[str]
    actions: list[AvailableAction]
    timeline: list
    outcome: ExecutionOutcome | None

    @property
    def hold_left(self) -> timedelta | None:
        hold = self.case.hold_until
        if self.case.state != State.COOLING_OFF or hold is None or hold <= self.now:
            return None
        return hold - self.now

    @property
    def deadline_left(self) -> timedelta | None:
        deadline = self.case.expires_at
        if not self.case.is_open or deadline is None:
            return None
        return max(deadline - self.now, timedelta(0))

    @property
    def hold_seconds_left(self) -> int:
        return int(self.hold_left.total_seconds()) if self.hold_left else 0

    @property
    def deadline_seconds_left(self) -> int:
        return int(self.deadline_left.total_seconds()) if self.deadline_left else 0


def case_overview(*, case: RecoveryCase, user, now: datetime) -> CaseOverview:
    """The case page's reads, at one moment, in a constant number of queries."""
    from verification.selectors import evidence_summary

    from .timeline import case_records, case_timeline

    records = case_records(case)
    approvals = approval_status(case=case, approvals=records.approvals, now=now)
    summary = evidence_summary(case=case)
    released = case.released_at
    return CaseOverview(
        case=case,
        now=now,
        policy=_pinned(case),
        subject=subject_summary(case=case, now=now),
        evidence=summary,
        evidence_checks=[
            e for e in records.evidence if released is None or e.checked_at > released
        ],
        approvals=approvals,
        still_needs=policy_still_needs(case=case, summary=summary, approvals=approvals, now=now),
        actions=available_actions(case, user, now),
        timeline=case_timeline(case, records),
        outcome=execution_outcome(case=case, records=records),
    )
