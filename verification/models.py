from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery_desk.history import HistoricalRecords

from .methods import METHODS


class Evidence(models.Model):
    """One identity check the system made for a case. The code itself is never stored."""

    class Outcome(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    case = models.ForeignKey(
        "cases.RecoveryCase", on_delete=models.PROTECT, related_name="evidence"
    )
    method = models.CharField(max_length=32, choices=[(m.code, m.label) for m in METHODS.values()])
    factor = models.CharField(max_length=32)
    outcome = models.CharField(max_length=8, choices=Outcome)
    score = models.PositiveSmallIntegerField(default=0)
    authenticator = models.ForeignKey(
        "directory.Authenticator", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who answered: the subject, or the owner answering for a service identity. Failures count
    # per answering person too.
    answered_by = models.ForeignKey(
        "directory.Identity", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField()
    # What the agent recorded for an attested check (document type and its last 4 characters,
    # the channel called back); never a code, a key or a full document number.
    detail = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "evidence"
        indexes = [
            models.Index(fields=["case", "outcome"], name="evidence_case_idx"),
            models.Index(
                fields=["answered_by", "outcome", "checked_at"], name="evidence_holder_idx"
            ),
            models.Index(
                fields=["authenticator", "outcome", "checked_at"], name="evidence_authn_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="failed_evidence_scores_zero", condition=Q(outcome="passed") | Q(score=0)
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()}: {self.get_outcome_display()}"


class RecoveryCode(models.Model):
    """One saved recovery code of a person, issued at enrolment (``recovery_codes_issue``).

    Only a salted PBKDF2 hash is kept; a code is spent once (``used_at``, ``used_on_case``)."""

    identity = models.ForeignKey(
        "directory.Identity", on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=256, editable=False)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_on_case = models.ForeignKey(
        "cases.RecoveryCase", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["identity", "used_at"], name="recovery_code_unused_idx")]
        constraints = [
            models.CheckConstraint(
                name="recovery_code_used_on_a_case",
                condition=Q(used_at__isnull=True, used_on_case__isnull=True)
                | Q(used_at__isnull=False, used_on_case__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return (
            f"Recovery code of identity {self.identity_id} ({'used' if self.used_at else 'unused'})"
        )
