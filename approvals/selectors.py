from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from .models import Approval

if TYPE_CHECKING:
    from cases.models import RecoveryCase
    from cases.policy import PinnedPolicy
    from verification.selectors import EvidenceSummary


@dataclass(frozen=True)
class Decisions:
    """How many approvals of the current round still count."""

    valid_approvals: int


def current_round(*, case) -> QuerySet[Approval]:
    """Decisions since the case last came back from security: a case flagged or escalated and
    then released goes through verification and approval again, and earlier approvals of it
    no longer vouch for it."""
    rows = Approval.objects.filter(case=case)
    if case.released_at is not None:
        rows = rows.filter(decided_at__gt=case.released_at)
    return rows


def decisions_on(*, case, now: datetime) -> Decisions:
    """One read. An approval lapses at ``valid_until`` if the case did not move on in time."""
    rows = current_round(case=case).values_list("decision", "valid_until")
    return Decisions(
        valid_approvals=sum(
            1
            for decision, valid_until in rows
            if decision == Approval.Decision.APPROVED and valid_until > now
        ),
    )


def has_decided(*, case, user) -> bool:
    """Has this person ever decided on the case? One decision per person per case, in any
    round (the database holds it: one_decision_per_approver)."""
    return Approval.objects.filter(case=case, approver_id=user.pk).exists()


def valid_approvals(*, case, now: datetime) -> QuerySet[Approval]:
    return (
        current_round(case=case)
        .filter(decision=Approval.Decision.APPROVED, valid_until__gt=now)
        .select_related("approver")
    )


# --- the approvals inbox (desk/views/inbox.py) ------------------------------------------------

INBOX_LIMIT = 50  # rows one page shows, oldest first
COUNT_CAP = 1000  # "more waiting" is counted up to here, never with an unbounded COUNT(*)
_BEFORE_ANY_CASE = datetime(2000, 1, 1, tzinfo=UTC)  # "not released": every decision counts


def awaiting_decision_of(
    *, user, approves: Mapping[int, Iterable[str]], now: datetime
) -> QuerySet["RecoveryCase"]:
    """Cases waiting for this person's decision: the ``approve`` row of the transition table
    (``cases/transitions.py``) stated as one filter, so a list never asks the rule per case.

    Clause for clause, in the order ``refusal_for`` checks: the state (``awaiting_approval``);
    the approver rule (``cases.access.approver_of_case``): not the subject or the owner of a
    service subject (``own_account_filter``, the rule's own query form), not the opener, the
    assigned agent or the verifier, the approver role the *pinned* policy asks for in a queue
    where ``approves`` (``cases.roles.queue_roles``) says this person holds it, and no decision
    of theirs on the case in any round (``has_decided``); then the guard ``not_expired``.
    ``tests/desk/test_inbox.py`` holds the two to agreeing, case by case.
    """
    from cases.access import own_account_filter
    from cases.models import RecoveryCase
    from cases.states import State

    queues_by_roles: dict[frozenset[str], list[int]] = {}
    for queue_id, held in approves.items():
        if held:
            queues_by_roles.setdefault(frozenset(held), []).append(queue_id)
    entitled = Q()
    for held, queue_ids in queues_by_roles.items():
        entitled |= Q(
            queue_id__in=sorted(queue_ids), policy_snapshot__approver_role__in=sorted(held)
        )
    if not queues_by_roles or not user.is_active:
        return RecoveryCase.objects.none()
    return (
        RecoveryCase.objects.filter(entitled, state=State.AWAITING_APPROVAL)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .exclude(Q(opened_by=user) | Q(assigned_agent=user) | Q(verified_by=user))
        .exclude(own_account_filter(user, prefix="subject__"))
        .exclude(Exists(Approval.objects.filter(case=OuterRef("pk"), approver_id=user.pk)))
    )


@dataclass(frozen=True)
class InboxRow:
    """One case waiting for a decision, with what the approver needs to decide it."""

    case: "RecoveryCase"
    approvals_given: int
    evidence: "EvidenceSummary | None"

    @cached_property
    def policy(self) -> "PinnedPolicy":
        from cases.policy import pinned_policy

        return pinned_policy(self.case)

    @property
    def approvals_words(self) -> str:
        return f"{self.approvals_given} of {self.policy.approvals_required} approvals"

    @property
    def approver_role_words(self) -> str:
        return self.policy.approver_role.replace("_", " ")

    @property
    def evidence_words(self) -> str:
        """The system-checked evidence against what the pinned policy asks, in words."""
        from verification.methods import METHODS

        if self.evidence is None:
            return ""
        policy, summary = self.policy, self.evidence
        methods = sorted(METHODS[m].label if m in METHODS else m for m in summary.methods)
        factors = len(summary.factors)
        passed = "; ".join(methods) if methods else "no check passed"
        return (
            f"Score {summary.score} (the policy asks for {policy.min_evidence_score}), "
            f"{factors} independent {'method' if factors == 1 else 'methods'} "
            f"(asks for {policy.min_independent_methods}). Passed: {passed}."
        )


@dataclass(frozen=True)
class Inbox:
    """The oldest cases waiting for one approver, and how many wait in all (up to a cap)."""

    rows: list[InboxRow]
    waiting: int
    cap: int

    @property
    def more(self) -> int:
        """How many wait beyond the rows shown (at least; see ``capped``)."""
        return self.waiting - len(self.rows)

    @property
    def capped(self) -> bool:
        return self.waiting >= self.cap


def approvals_inbox(
    *,
    user,
    approves: Mapping[int, Iterable[str]],
    now: datetime,
    limit: int = INBOX_LIMIT,
    cap: int = COUNT_CAP,
    with_evidence: bool = True,
) -> Inbox:
    """The oldest ``limit`` cases waiting for ``user``'s decision (longest waiting first).

    A constant number of queries whatever the number of rows: the cases with their people
    and the count of valid approvals of the current round (one query), their passed evidence
    (one query, when ``with_evidence``), and a count capped at ``cap`` only when more cases
    wait than are shown.
    """
    cases = awaiting_decision_of(user=user, approves=approves, now=now)
    valid = (
        Approval.objects.filter(
            case=OuterRef("pk"),
            decision=Approval.Decision.APPROVED,
            valid_until__gt=now,
            decided_at__gt=Coalesce(OuterRef("released_at"), Value(_BEFORE_ANY_CASE)),
        )
        .order_by()
        .values("case")
        .annotate(given=Count("pk"))
        .values("given")
    )
    listed = list(
        cases.select_related("subject", "subject__owner", "opened_by", "verified_by")
        .annotate(approvals_given=Coalesce(Subquery(valid), 0))
        .order_by("verified_at", "pk")[: limit + 1]
    )
    waiting = len(listed)
    if waiting > limit:
        listed = listed[:limit]
        waiting = cases[:cap].count()
    evidence = _evidence_summaries(listed) if with_evidence else {}
    rows = [
        InboxRow(case=case, approvals_given=case.approvals_given, evidence=evidence.get(case.pk))
        for case in listed
    ]
    return Inbox(rows=rows, waiting=waiting, cap=cap)


def _evidence_summaries(cases: Sequence["RecoveryCase"]) -> dict[int, "EvidenceSummary"]:
    """``verification.selectors.evidence_summary`` for many cases in one query: the passed
    checks of the current round (after ``released_at``), each factor once at its strongest."""
    from verification.models import Evidence
    from verification.selectors import EvidenceSummary

    released = {case.pk: case.released_at for case in cases}
    best: dict[int, dict[str, int]] = {pk: {} for pk in released}
    methods: dict[int, set[str]] = {pk: set() for pk in released}
    passed = Evidence.objects.filter(
        case_id__in=list(released), outcome=Evidence.Outcome.PASSED
    ).values_list("case_id", "factor", "method", "score", "checked_at")
    for case_id, factor, method, score, checked_at in passed:
        since = released[case_id]
        if since is not None and checked_at <= since:
            continue
        best[case_id][factor] = max(best[case_id].get(factor, 0), score)
        methods[case_id].add(method)
    return {
        pk: EvidenceSummary(
            score=sum(best[pk].values()),
            factors=frozenset(best[pk]),
            methods=frozenset(methods[pk]),
        )
        for pk in released
    }
