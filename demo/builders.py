"""Cases in any state, driven through the real services: one set of builders for the tests,
the demo seed and the benchmark.

``case_in(state, agent=..., ...)`` opens a case and moves it, one service call at a time, to
``state`` along the lifecycle of docs/design.md ("The lifecycle")::

    new → verifying → (evidence) → verify → [awaiting_approval → approve] → [cooling_off →
    end_hold] → ready → executing → completed | execution_failed → abandoned

with ``escalated`` (failed evidence up to the limit), ``rejected`` (from verifying),
``cancelled`` (a dispute of a new case) and ``expired`` (a new case past its claim deadline)
on the side. The pinned policy decides which bracketed stages a case goes through; a state the
policy of the kind and tier never passes (``awaiting_approval`` for a policy that asks for no
approval, ``cooling_off`` without a hold) raises ``BuilderError`` before anything is written.

The steps ``case_in`` is made of are public too, so a caller can leave the default path (a
denial, a break-glass, a particular reason): ``open``, ``claim``, ``pass_evidence``,
``fail_evidence``, ``escalate``, ``verify``, ``approve``, ``deny``, ``end_hold``,
``break_glass``, ``execute``, ``executed``, ``directory_failed``, ``abandon``, ``reject``,
``dispute``, ``expire``, and for the break-glass review a break-glass opens: ``review_of``,
``close_review``, ``review_overdue``; ``broken_glass`` builds a case broken glass on and returns
its review. Each is one real service call (or the few the system would make), so every case
built here has the audit trail and history a real one has.

Only the project's code and Django: no factories, nothing from ``tests``. Steps that need
time to pass (``end_hold``, ``expire``) move a pinned clock: ``recovery_desk.clock.pinned``
yields one (``pin.shift``); the tests' ``clock`` fixture and the seed's time machine are
others. Anything with a ``shift(timedelta)`` method will do.
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol
from uuid import uuid4

from django.conf import settings
from django.contrib.auth.models import User

from approvals.services import approval_deny, approval_grant
from cases.execution import execution_give_up, execution_run
from cases.models import BreakGlassReason, BreakGlassReview, RecoveryCase, ReviewOutcome
from cases.policy import PinnedPolicy, pinned_policy, policy_for
from cases.review_services import review_close, review_escalate_overdue
from cases.services import (
    case_abandon,
    case_break_glass,
    case_claim,
    case_dispute,
    case_end_hold,
    case_execute,
    case_expire,
    case_flag_fraud,
    case_open,
    case_reject,
    case_verify,
)
from cases.states import Kind, State
from directory.connectors import ConnectorError, DirectoryConnector
from directory.connectors.local import LocalDirectory
from directory.models import AccountState, Authenticator, Identity, RiskTier
from recovery_desk import clock as one_clock
from verification.methods import TOTP
from verification.models import Evidence
from verification.selectors import evidence_holder_id
from verification.services import evidence_check
from verification.totp import totp_code_at, totp_code_refused_at

__all__ = [
    "AUTO",
    "BREAK_GLASS_REASON",
    "FINDINGS",
    "JUSTIFICATION",
    "NEEDS_EVIDENCE",
    "BuilderError",
    "UnreachableDirectory",
    "abandon",
    "approve",
    "break_glass",
    "broken_glass",
    "case_in",
    "check_totp",
    "claim",
    "close_review",
    "current_code",
    "deny",
    "directory_failed",
    "dispute",
    "end_hold",
    "escalate",
    "evidence_authenticator",
    "execute",
    "executed",
    "expire",
    "fail_evidence",
    "new_subject",
    "open",
    "pass_evidence",
    "reject",
    "review_of",
    "review_overdue",
    "verify",
]

# A break-glass justification the rule accepts (20 characters or more, five distinct words).
JUSTIFICATION = "Executive locked out before a board meeting; identity confirmed in person."
BREAK_GLASS_REASON = BreakGlassReason.APPROVERS_UNREACHABLE
# Findings a review accepts (20 characters or more, four distinct words).
FINDINGS = "Evidence and the emergency were confirmed with the requester's line manager."
APPROVAL_REASON = "Checked the evidence"
REJECT_REASON = "Caller could not read a code"
ABANDON_REASON = "The directory account was migrated."
DISPUTE_STATEMENT = "This was not me."


class BuilderError(ValueError):
    """The requested case cannot be built as asked (not a refusal of the desk: a misuse of the
    builders, such as a state the policy of that kind and tier never passes through)."""


class Clock(Protocol):
    """A pinned clock the builders may move on: ``recovery_desk.clock.Pin`` and the like."""

    def shift(self, delta: timedelta) -> None: ...


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


# ``replaced_authenticator=AUTO``: an MFA re-bind names a new authenticator of the subject.
AUTO = _Auto()


class UnreachableDirectory(LocalDirectory):
    """A directory that fails every call (what an outage looks like to the connector's caller)."""

    name = "unreachable"
    message = "The directory did not answer."

    def _down(self, *args, **kwargs) -> int:
        raise ConnectorError(self.message)

    unlock = enable = revoke_sessions = replace_authenticators = set_password = _down


# -- people -----------------------------------------------------------------------------------


def new_subject(*, kind: str = Kind.PASSWORD_RESET, tier: str = RiskTier.STANDARD) -> Identity:
    """Someone who may need this kind of recovery: a reactivation is of a disabled account
    (the desk refuses to reactivate an active one), and a service identity gets a human owner,
    whose authenticators prove the claim."""
    state = AccountState.DISABLED if kind == Kind.REACTIVATION else AccountState.ACTIVE
    owner = None
    if tier == RiskTier.SERVICE:
        owner = _identity(prefix="owner", tier=RiskTier.STANDARD, state=AccountState.ACTIVE)
    return _identity(prefix="subject", tier=tier, state=state, owner=owner)


def _identity(*, prefix: str, tier: str, state: str, owner: Identity | None = None) -> Identity:
    token = uuid4().hex[:12]
    return Identity.objects.create(
        username=f"{prefix}-{token}",
        display_name=f"{prefix.title()} {token}",
        risk_tier=tier,
        account_state=state,
        owner=owner,
    )


def evidence_authenticator(case: RecoveryCase) -> Authenticator:
    """An authenticator of the person who answers for ``case`` (the subject, or a service
    identity's owner) that can prove the claim now: active, not the one being replaced, and
    not yet read at the current time step. One is enrolled when the holder has none."""
    holder_id = evidence_holder_id(case.subject)
    candidates = Authenticator.objects.filter(
        identity_id=holder_id, revoked_at__isnull=True
    ).order_by("pk")
    if case.replaced_authenticator_id is not None:
        candidates = candidates.exclude(pk=case.replaced_authenticator_id)
    now = one_clock.now()
    for authenticator in candidates:
        if authenticator.last_t < int(now.timestamp()) // authenticator.step:
            return authenticator
    return Authenticator.objects.create(identity_id=holder_id, label="Phone")


def current_code(authenticator: Authenticator) -> str:
    """The code the authenticator shows now (on the one clock)."""
    return totp_code_at(authenticator, at=one_clock.now())


def check_totp(*, case: RecoveryCase, authenticator: Authenticator, token: str, actor) -> Evidence:
    """The one evidence service, with the TOTP method's answer."""
    return evidence_check(
        case=case,
        method=TOTP.code,
        answer={"authenticator": authenticator.pk, "code": token},
        actor=actor,
    )


# -- steps, each one real service call (or the few the system makes) -------------------------


def open(
    opener: User,
    *,
    subject: Identity,
    kind: str = Kind.PASSWORD_RESET,
    replaced_authenticator: Authenticator | None = None,
    intake_channel: str = "phone",
    external_ticket: str = "",
) -> RecoveryCase:
    return case_open(
        actor=opener,
        subject=subject,
        kind=kind,
        intake_channel=intake_channel,
        external_ticket=external_ticket,
        replaced_authenticator=replaced_authenticator,
    )


def claim(case: RecoveryCase, agent: User) -> RecoveryCase:
    return case_claim(case=case, agent=agent)


def pass_evidence(
    case: RecoveryCase, agent: User, *, authenticator: Authenticator | None = None
) -> Evidence:
    """The evidence holder reads the current code of ``authenticator`` (default:
    ``evidence_authenticator(case)``) and ``agent`` checks it. Raises ``BuilderError`` when the
    check is recorded as failed (a code already read at this time step is a replay)."""
    authenticator = authenticator or evidence_authenticator(case)
    evidence = check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
    )
    if evidence.outcome != Evidence.Outcome.PASSED:
        raise BuilderError(
            f"The code of {authenticator} did not pass on {case.reference} (read twice in one "
            "time step?); move the clock on or name another authenticator."
        )
    return evidence


def fail_evidence(
    case: RecoveryCase, agent: User, *, times: int = 1, authenticator: Authenticator | None = None
) -> RecoveryCase:
    """The holder reads a wrong (well-formed) code ``times`` times; each failure is recorded,
    and the system escalates the case once a failure limit is reached. Stops once escalated."""
    authenticator = authenticator or evidence_authenticator(case)
    for _ in range(times):
        check_totp(
            case=case,
            authenticator=authenticator,
            token=totp_code_refused_at(authenticator, at=one_clock.now()),
            actor=agent,
        )
        case.refresh_from_db()
        if case.state == State.ESCALATED:
            break
    return case


def escalate(
    case: RecoveryCase, agent: User, *, authenticator: Authenticator | None = None
) -> RecoveryCase:
    """Fail evidence until the pinned failure limit escalates the case (sooner when earlier
    failures of the same person or authenticator still count)."""
    case = fail_evidence(
        case, agent, times=pinned_policy(case).max_failures, authenticator=authenticator
    )
    if case.state != State.ESCALATED:
        raise BuilderError(f"{case.reference} was not escalated after the failure limit.")
    return case


def verify(case: RecoveryCase, agent: User) -> RecoveryCase:
    """Close verification; the case goes where its pinned policy says."""
    return case_verify(case=case, actor=agent)


def approve(case: RecoveryCase, *approvers: User, reason: str = APPROVAL_REASON) -> RecoveryCase:
    """Each approver grants an approval, in order; returns the case as it then stands."""
    for approver in approvers:
        approval_grant(case=case, approver=approver, reason=reason)
    case.refresh_from_db()
    return case


def deny(case: RecoveryCase, approver: User, *, reason: str) -> RecoveryCase:
    approval_deny(case=case, approver=approver, reason=reason)
    case.refresh_from_db()
    return case


def end_hold(
    case: RecoveryCase, clock: Clock | None, *, late: timedelta = timedelta(0)
) -> RecoveryCase:
    """Move the pinned clock to ``hold_until`` (plus ``late``), then the system ends the hold."""
    if clock is None:
        raise BuilderError(
            f"{case.reference} is cooling off until {case.hold_until:%Y-%m-%d %H:%M}; ending the "
            "hold needs a pinned clock to move (recovery_desk.clock.pinned)."
        )
    _move_to(clock, case.hold_until + late)
    return case_end_hold(case=case)


def flag_fraud(case: RecoveryCase, actor: User, *, reason: str) -> RecoveryCase:
    """An agent (or reviewer) suspects fraud or coaching: the case escalates to security."""
    return case_flag_fraud(case=case, actor=actor, reason=reason)


def break_glass(
    case: RecoveryCase,
    reviewer: User,
    *,
    reason: str = BREAK_GLASS_REASON,
    justification: str = JUSTIFICATION,
) -> RecoveryCase:
    """The reviewer breaks glass; the same service call opens the post-event review."""
    return case_break_glass(case=case, actor=reviewer, reason=reason, justification=justification)


def review_of(case: RecoveryCase) -> BreakGlassReview:
    """The review the case's latest break-glass opened."""
    return BreakGlassReview.objects.filter(case=case).latest("opened_at", "pk")


def close_review(
    review: BreakGlassReview,
    reviewer: User,
    *,
    outcome: str = ReviewOutcome.JUSTIFIED,
    findings: str = FINDINGS,
    follow_up: str = "",
) -> BreakGlassReview:
    """Another reviewer, who took no part in the case, closes the review."""
    return review_close(
        review=review, reviewer=reviewer, outcome=outcome, findings=findings, follow_up=follow_up
    )


def review_overdue(
    review: BreakGlassReview, clock: Clock | None, *, late: timedelta = timedelta(minutes=1)
) -> BreakGlassReview:
    """Move the pinned clock past the review's due time (plus ``late``), then the sweep's step
    escalates it."""
    if one_clock.now() < review.due_at + late:
        if clock is None:
            raise BuilderError(
                f"The review of {review.case.reference} is due at "
                f"{review.due_at:%Y-%m-%d %H:%M}; making it overdue needs a pinned clock to move "
                "(recovery_desk.clock.pinned)."
            )
        _move_to(clock, review.due_at + late)
    review_escalate_overdue(review_id=review.pk)
    review.refresh_from_db()
    return review


def execute(case: RecoveryCase, agent: User) -> RecoveryCase:
    """Send the case to the directory; the task has not run yet."""
    return case_execute(case=case, actor=agent)


def executed(
    case: RecoveryCase, agent: User, *, connector: DirectoryConnector | None = None
) -> RecoveryCase:
    """Execute, then run the directory step the task would run once the case is committed."""
    case_execute(case=case, actor=agent)
    return execution_run(case_id=case.pk, connector=connector)


def directory_failed(
    case: RecoveryCase, agent: User, *, connector: DirectoryConnector | None = None
) -> RecoveryCase:
    """Execute against a directory that fails (default ``UnreachableDirectory``) through every
    attempt, then give up as the task does: the case waits in ``execution_failed``."""
    connector = connector or UnreachableDirectory()
    case_execute(case=case, actor=agent)
    failure = None
    for _ in range(settings.EXECUTION_MAX_ATTEMPTS):
        try:
            execution_run(case_id=case.pk, connector=connector)
        except ConnectorError as error:
            failure = str(error)
        else:
            raise BuilderError(f"The {connector.name} directory carried {case.reference} out.")
    assert failure is not None
    return execution_give_up(case_id=case.pk, error=failure)


def abandon(case: RecoveryCase, agent: User, *, reason: str = ABANDON_REASON) -> RecoveryCase:
    return case_abandon(case=case, actor=agent, reason=reason)


def reject(case: RecoveryCase, agent: User, *, reason: str = REJECT_REASON) -> RecoveryCase:
    return case_reject(case=case, actor=agent, reason=reason)


def dispute(case: RecoveryCase, *, statement: str = DISPUTE_STATEMENT) -> RecoveryCase:
    """The subject says "this was not me"."""
    return case_dispute(case=case, statement=statement)


def expire(case: RecoveryCase, clock: Clock | None = None) -> RecoveryCase:
    """Move the pinned clock to the case's deadline when it has not passed yet, then the
    system expires the case."""
    if one_clock.now() < case.expires_at:
        if clock is None:
            raise BuilderError(
                f"{case.reference} is due at {case.expires_at:%Y-%m-%d %H:%M}; expiring it "
                "needs a pinned clock to move (recovery_desk.clock.pinned)."
            )
        _move_to(clock, case.expires_at)
    return case_expire(case=case)


def _move_to(clock: Clock, at) -> None:
    now = one_clock.now()
    if now < at:
        clock.shift(at - now)


# -- a case in a given state ------------------------------------------------------------------

# States past ``verify`` (or a break-glass), and those whose way passes an evidence check.
READY_OR_LATER = frozenset(
    {State.READY, State.EXECUTING, State.COMPLETED, State.EXECUTION_FAILED, State.ABANDONED}
)
VERIFIED = READY_OR_LATER | {State.AWAITING_APPROVAL, State.COOLING_OFF}
NEEDS_EVIDENCE = VERIFIED | {State.ESCALATED}


def case_in(
    state: str,
    *,
    agent: User,
    opener: User | None = None,
    approvers: Iterable[User] = (),
    reviewer: User | None = None,
    subject: Identity | None = None,
    kind: str = Kind.PASSWORD_RESET,
    tier: str | None = None,
    clock: Clock | None = None,
    replaced_authenticator: Authenticator | None | _Auto = AUTO,
    authenticator: Authenticator | None = None,
    failing_directory: DirectoryConnector | None = None,
    intake_channel: str = "phone",
    external_ticket: str = "",
    break_glass_reason: str = BREAK_GLASS_REASON,
    justification: str = JUSTIFICATION,
) -> RecoveryCase:
    """A case of ``kind`` in ``state``, driven there through the real services.

    - ``agent`` claims, checks evidence, verifies and executes; ``opener`` (default ``agent``)
      takes the call.
    - ``subject``: the identity recovered; default a new one of ``tier`` (default standard)
      fit for ``kind``. ``tier`` with a ``subject`` must be the subject's.
    - ``approvers`` grant the approvals the policy asks for: exactly that many on the way past
      ``awaiting_approval``, fewer to leave the case awaiting the rest (ignored for a state
      before verification closes).
    - ``reviewer``: a security reviewer who breaks glass to make the case ready, instead of the
      approvals and the hold (``ready`` and later states; ignored before verification closes),
      with ``break_glass_reason`` and ``justification``; that opens the case's review.
    - ``clock``: a pinned clock, needed to end a hold and to expire a case.
    - ``replaced_authenticator``: what an MFA re-bind replaces; by default a new authenticator
      of the subject labelled "Lost phone"; None replaces them all (and no TOTP can prove it).
    - ``authenticator``: the holder's authenticator whose codes are read (default
      ``evidence_authenticator``); ``failing_directory``: the connector ``execution_failed``
      and ``abandoned`` cases fail against (default ``UnreachableDirectory``).

    Raises ``BuilderError``, before writing anything, when the state cannot be reached this way
    under the live policy of ``kind`` and the tier; a refusal of the desk (a ``DomainError``)
    when a service refuses a step.
    """
    try:
        state = State(state)
    except ValueError:
        raise BuilderError(
            f"{state!r} is not a state; states: {', '.join(State.values)}."
        ) from None
    approvers = tuple(approvers)
    if subject is not None and tier is not None and subject.risk_tier != tier:
        raise BuilderError(f"{subject} is {subject.risk_tier}, not {tier}.")
    tier = subject.risk_tier if subject is not None else (tier or RiskTier.STANDARD)
    rebind_all = kind == Kind.MFA_REBIND and replaced_authenticator is None
    _ensure_reachable(
        state,
        policy_for(kind=kind, risk_tier=tier),
        approvers=approvers,
        reviewer=reviewer,
        clock=clock,
        rebind_all=rebind_all,
    )

    subject = subject or new_subject(kind=kind, tier=tier)
    if replaced_authenticator is AUTO:
        replaced_authenticator = None
        if kind == Kind.MFA_REBIND:
            replaced_authenticator = Authenticator.objects.create(
                identity=subject, label="Lost phone"
            )
    case = open(
        opener or agent,
        subject=subject,
        kind=kind,
        replaced_authenticator=replaced_authenticator,
        intake_channel=intake_channel,
        external_ticket=external_ticket,
    )
    if state == State.NEW:
        return case
    if state == State.CANCELLED:
        return dispute(case)
    if state == State.EXPIRED:
        return expire(case, clock)

    case = claim(case, agent)
    if state == State.VERIFYING:
        return case
    if state == State.REJECTED:
        return reject(case, agent)
    if state == State.ESCALATED:
        return escalate(case, agent, authenticator=authenticator)

    pass_evidence(case, agent, authenticator=authenticator)
    if reviewer is not None:
        case = break_glass(case, reviewer, reason=break_glass_reason, justification=justification)
    else:
        case = verify(case, agent)
        if case.state == State.AWAITING_APPROVAL:
            case = approve(case, *approvers)
        if state in (State.AWAITING_APPROVAL, State.COOLING_OFF):
            return case
        if case.state == State.COOLING_OFF:
            case = end_hold(case, clock)
    if state == State.READY:
        return case
    if state == State.EXECUTING:
        return execute(case, agent)
    if state == State.COMPLETED:
        return executed(case, agent)
    case = directory_failed(case, agent, connector=failing_directory)
    if state == State.EXECUTION_FAILED:
        return case
    return abandon(case, agent)


def broken_glass(
    *,
    agent: User,
    reviewer: User,
    state: str = State.READY,
    closed_by: User | None = None,
    outcome: str = ReviewOutcome.JUSTIFIED,
    findings: str = FINDINGS,
    follow_up: str = "",
    **case_kw,
) -> BreakGlassReview:
    """A case ``reviewer`` broke glass on (``case_in(state, reviewer=...)``: ready or later),
    and the review that opened; ``closed_by``, another reviewer who took no part, closes it
    with ``outcome``, ``findings`` and ``follow_up``."""
    case = case_in(state, agent=agent, reviewer=reviewer, **case_kw)
    review = review_of(case)
    if closed_by is not None:
        review = close_review(
            review, closed_by, outcome=outcome, findings=findings, follow_up=follow_up
        )
    return review


def _ensure_reachable(
    state: State,
    policy: PinnedPolicy,
    *,
    approvers: tuple[User, ...],
    reviewer: User | None,
    clock: Clock | None,
    rebind_all: bool,
) -> None:
    """Why ``case_in`` cannot take a case of this policy to ``state``, as a BuilderError."""
    what = f"{Kind(policy.kind).label} for a {policy.risk_tier} identity"

    def cannot(why: str) -> BuilderError:
        return BuilderError(f"{what} cannot be built in {state}: {why}.")

    if state in NEEDS_EVIDENCE:
        if rebind_all:
            raise cannot(
                "a re-bind that replaces every authenticator accepts no TOTP evidence; name the "
                "authenticator being replaced"
            )
        if TOTP.code not in policy.allowed_methods:
            raise cannot("its policy does not allow TOTP evidence, the only kind built here")
    if state in VERIFIED and (
        policy.min_evidence_score > TOTP.strength or policy.min_independent_methods > 1
    ):
        raise cannot("its policy asks for more evidence than one TOTP check gives")
    if state == State.EXPIRED and clock is None:
        raise cannot("expiring needs a pinned clock (clock=)")

    if state not in VERIFIED:
        return  # neither approvals nor a break-glass on the way there
    if reviewer is not None:
        if state not in READY_OR_LATER:
            raise cannot("a reviewer breaks glass only on the way to ready")
        if approvers:
            raise cannot("a break-glass skips the approvals, so no approver is needed")
        return

    needed = policy.approvals_required
    if state == State.AWAITING_APPROVAL:
        if needed == 0:
            raise cannot("its policy asks for no approval, so verification goes on")
        if len(approvers) >= needed:
            raise cannot(f"{len(approvers)} approvers would move it on ({needed} needed)")
        return
    if len(approvers) != needed:
        raise cannot(f"its policy asks for {needed} approvals and {len(approvers)} were given")
    if state == State.COOLING_OFF:
        if not policy.cooling_off:
            raise cannot("its policy has no cooling-off period")
        return
    if policy.cooling_off and clock is None:
        raise cannot(
            f"its policy holds the case for {policy.cooling_off}; ending the hold needs a pinned "
            "clock (clock=) or a reviewer who breaks glass (reviewer=)"
        )
