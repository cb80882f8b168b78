from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from .models import Approval


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
