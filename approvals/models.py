from django.conf import settings
from django.db import models
from django.db.models import F, Q

from recovery_desk.history import HistoricalRecords


class Approval(models.Model):
    """One approver's decision on one case.

    Separation of duties is held three times: by the service (with a sentence to act on), by
    the constraints below on copies of the case's opener and verifier, and by a trigger
    (migration 0002) that checks every written row against the case and its subject.
    """

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"

    case = models.ForeignKey(
        "cases.RecoveryCase", on_delete=models.PROTECT, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=8, choices=Decision)
    reason = models.TextField()
    decided_at = models.DateTimeField()
    valid_until = models.DateTimeField()
    case_opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    case_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "approver"], name="one_decision_per_approver"),
            models.CheckConstraint(
                name="approver_is_not_opener", condition=~Q(approver=F("case_opened_by"))
            ),
            models.CheckConstraint(
                name="approver_is_not_verifier", condition=~Q(approver=F("case_verified_by"))
            ),
            models.CheckConstraint(name="approval_has_reason", condition=~Q(reason="")),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver}"
