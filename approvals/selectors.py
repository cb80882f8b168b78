from datetime import datetime

from .models import Approval


def valid_approval_count(*, case, now: datetime) -> int:
    """Approvals that still count: an approval lapses if the case does not move on in time."""
    return Approval.objects.filter(
        case=case, decision=Approval.Decision.APPROVED, valid_until__gt=now
    ).count()
