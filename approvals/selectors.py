from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from .models import Approval


@dataclass(frozen=True)
class Decisions:
    """Who has decided on a case already, and how many approvals still count."""

    deciders: frozenset[int]
    valid_approvals: int


def decisions_on(*, case, now: datetime) -> Decisions:
    """One read. An approval lapses at ``valid_until`` if the case did not move on in time."""
    rows = Approval.objects.filter(case=case).values_list("approver_id", "decision", "valid_until")
    return Decisions(
        deciders=frozenset(approver for approver, _, _ in rows),
        valid_approvals=sum(
            1
            for _, decision, valid_until in rows
            if decision == Approval.Decision.APPROVED and valid_until > now
        ),
    )


def valid_approvals(*, case, now: datetime) -> QuerySet[Approval]:
    return Approval.objects.filter(
        case=case, decision=Approval.Decision.APPROVED, valid_until__gt=now
    ).select_related("approver")
