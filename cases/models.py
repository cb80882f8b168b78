from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from directory.models import RiskTier
from recovery_desk.history import HistoricalRecords

from .states import OPEN_STATES, Channel, Kind, State


class Queue(models.Model):
    """One queue per kind of recovery; object permissions (django-guardian) say who works it."""

    kind = models.CharField(max_length=32, choices=Kind, unique=True)
    name = models.CharField(max_length=100)
    service_target = models.DurationField(
        default=timedelta(hours=4),
        help_text="How long a case may wait to be claimed before the queue is behind.",
    )

    history = HistoricalRecords()

    class Meta:
        permissions = [
            ("work_queue", "Work cases in this queue (service desk agent)"),
            ("approve_queue", "Give second approval in this queue"),
            ("review_queue", "Release escalations and review break-glass in this queue"),
        ]

    def __str__(self) -> str:
        return self.name


class BreakGlassReason(models.TextChoices):
    """Why approvals and the hold were skipped: a fixed list, so reviews can count them."""

    INCIDENT_RESPONSE = "incident_response", "Active security incident response"
    SERVICE_OUTAGE = "service_outage", "Business-critical service down for this person"
    APPROVERS_UNREACHABLE = "approvers_unreachable", "No eligible approver reachable in time"
    PERSONAL_SAFETY = "personal_safety", "Personal safety or emergency of the subject"


class ReviewOutcome(models.TextChoices):
    JUSTIFIED = "justified", "Justified"
    NOT_JUSTIFIED = "not_justified", "Not justified"


class ApproverRole(models.TextChoices):
    MANAGER = "manager", "Manager"
    SECURITY_REVIEWER = "security_reviewer", "Security reviewer"


# Lowest authority first; a higher tier never takes approvals from a lower role.
APPROVER_ROLE_ORDER: tuple[str, ...] = (ApproverRole.MANAGER, ApproverRole.SECURITY_REVIEWER)


class PolicyRule(models.Model):
    """What a recovery of one kind for one risk tier demands. One row per (kind, tier).

    Editing bumps ``version``; a case pins the version (and a snapshot) it was opened under.
    """

    kind = models.CharField(max_length=32, choices=Kind)
    risk_tier = models.CharField(max_length=16, choices=RiskTier)
    version = models.PositiveIntegerField(default=1)
    min_evidence_score = models.PositiveSmallIntegerField()
    min_independent_methods = models.PositiveSmallIntegerField(default=1)
    allowed_methods = models.JSONField(default=list)
    approvals_required = models.PositiveSmallIntegerField(default=0)
    approver_role = models.CharField(
        max_length=32, choices=ApproverRole, default=ApproverRole.MANAGER
    )
    cooling_off = models.DurationField(default=timedelta(0))
    pass_lifetime = models.DurationField(default=timedelta(minutes=10))
    device_binding_required = models.BooleanField(default=False)
    claim_deadline = models.DurationField(default=timedelta(hours=24))
    verify_deadline = models.DurationField(default=timedelta(hours=4))
    approval_deadline = models.DurationField(default=timedelta(hours=24))
    ready_deadline = models.DurationField(default=timedelta(hours=4))
    recovery_gap = models.DurationField(
        default=timedelta(0),
        help_text="Minimum time between two completed recoveries of this kind for one identity.",
    )
    # Failure limits (NIST SP 800-63B-4 §3.2.2 rate limiting): counted per subject, per person
    # who answers and per authenticator, across cases, within the window.
    max_failures = models.PositiveSmallIntegerField(
        default=3,
        help_text="Failed evidence checks within the window before the case escalates.",
    )
    failure_window = models.DurationField(
        default=timedelta(hours=24), help_text="How far back failed checks count."
    )
    code_max_tries = models.PositiveSmallIntegerField(
        default=3, help_text="Tries one issued one-time code allows before it is spent."
    )
    break_glass_review_window = models.DurationField(
        default=timedelta(hours=24),
        help_text="Time another security reviewer has to review a break-glass use.",
    )
    dispute_freeze = models.DurationField(
        default=timedelta(days=7),
        help_text="How long no recovery opens for an identity whose subject disputed a case.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "risk_tier"], name="one_policy_per_kind_tier"),
            models.CheckConstraint(
                name="policy_needs_some_evidence",
                condition=Q(min_evidence_score__gte=1, min_independent_methods__gte=1),
            ),
            models.CheckConstraint(
                name="policy_failure_limits_set",
                condition=Q(
                    max_failures__gte=1, code_max_tries__gte=1, failure_window__gt=timedelta(0)
                ),
            ),
            models.CheckConstraint(
                name="policy_pass_lifetime_short",
                condition=Q(pass_lifetime__gt=timedelta(0), pass_lifetime__lte=timedelta(hours=24)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} / {self.get_risk_tier_display()} v{self.version}"


class RecoveryCase(models.Model):
    # The state changes only through cases.transitions.apply_transition.
    state = models.CharField(max_length=32, choices=State, default=State.NEW, editable=False)
    kind = models.CharField(max_length=32, choices=Kind)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="cases")
    subject = models.ForeignKey(
        "directory.Identity", on_delete=models.PROTECT, related_name="recovery_cases"
    )
    replaced_authenticator = models.ForeignKey(
        "directory.Authenticator",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="MFA re-bind: the authenticator being replaced (it cannot serve as evidence).",
    )
    intake_channel = models.CharField(max_length=16, choices=Channel)
    external_ticket = models.CharField(max_length=64, blank=True, default="")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    risk_tier = models.CharField(max_length=16, choices=RiskTier)
    policy_rule = models.ForeignKey(PolicyRule, on_delete=models.PROTECT, related_name="+")
    policy_version = models.PositiveIntegerField()
    policy_snapshot = models.JSONField(editable=False)
    failed_checks = models.PositiveSmallIntegerField(default=0)
    gap_released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    break_glass_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    break_glass_reason = models.CharField(
        max_length=32, choices=BreakGlassReason, blank=True, default=""
    )
    break_glass_justification = models.TextField(blank=True, default="")
    closing_reason = models.TextField(blank=True, default="")
    execution_attempts = models.PositiveSmallIntegerField(default=0)
    execution_error = models.TextField(blank=True, default="")

    opened_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    cooling_off_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    execution_started_at = models.DateTimeField(null=True, blank=True)
    execution_attempted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    hold_until = models.DateTimeField(null=True, blank=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    history = HistoricalRecords()

    # The state as last read or written, and the permission apply_transition grants to save
    # a new one (see save()).
    _saved_state: str | None = None
    _transition_allowed: bool = False

    class Meta:
        indexes = [
            models.Index(fields=["queue", "state", "opened_at", "id"], name="case_claim_idx"),
            models.Index(fields=["subject", "kind", "state"], name="case_subject_idx"),
        ]
        constraints = [
            models.CheckConstraint(name="case_state_valid", condition=Q(state__in=State.values)),
            models.UniqueConstraint(
                fields=["subject", "kind"],
                condition=Q(state__in=sorted(OPEN_STATES)),
                name="one_open_case_per_subject_kind",
            ),
            models.CheckConstraint(
                name="case_claimed_has_agent",
                condition=Q(state=State.NEW)
                | Q(assigned_agent__isnull=False)
                | ~Q(state__in=sorted(OPEN_STATES)),
            ),
            models.CheckConstraint(
                name="case_cooling_off_has_hold",
                condition=~Q(state=State.COOLING_OFF) | Q(hold_until__isnull=False),
            ),
            models.CheckConstraint(
                name="case_verified_has_agent",
                condition=Q(verified_by__isnull=True) | Q(assigned_agent__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.get_kind_display()} ({self.get_state_display()})"

    def save(self, *args, **kwargs):
        # The state is protected: it changes only through cases.transitions.apply_transition.
        if self._state.adding and self.pk is not None:
            raise ValueError("Cases are opened by case_open, never saved over an existing id.")
        saved_state = getattr(self, "_saved_state", None)
        moving = self.pk is not None and saved_state is not None and self.state != saved_state
        if moving and not getattr(self, "_transition_allowed", False):
            raise ValueError("A case's state changes only through its transition table.")
        super().save(*args, **kwargs)
        self._saved_state = self.state

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._saved_state = instance.__dict__.get("state", "")
        return instance

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._saved_state = self.state

    @property
    def reference(self) -> str:
        return self.reference_for(self.pk) if self.pk else "RC-(unsaved)"

    @staticmethod
    def reference_for(case_id: int) -> str:
        """The reference from the id alone: lists of audit events or evidence need no join."""
        return f"RC-{case_id:06d}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class BreakGlassReview(models.Model):
    """The post-event review every break-glass use opens (docs/design.md "Break-glass").

    Another security reviewer, who took no part in the case, closes it with findings and an
    outcome before ``due_at``; the sweep marks an overdue review escalated.
    """

    case = models.ForeignKey(
        RecoveryCase, on_delete=models.PROTECT, related_name="break_glass_reviews"
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=32, choices=BreakGlassReason)
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=ReviewOutcome, blank=True, default="")
    findings = models.TextField(blank=True, default="")
    follow_up = models.TextField(blank=True, default="")

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="review_closed_has_outcome",
                condition=Q(closed_at__isnull=True)
                | (Q(reviewer__isnull=False) & ~Q(outcome="") & ~Q(findings="")),
            ),
        ]

    def __str__(self) -> str:
        return f"Break-glass review of {RecoveryCase.reference_for(self.case_id)}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class DisputeToken(models.Model):
    """The link in a notice that lets the subject say "this was not me" without signing in
    (docs/design.md "Notices"). The token is an HMAC under ``SECRET_KEY`` of this row's random
    ``salt``, computed again when the notice is rendered (so a notice re-sent by the
    sweep after a broker outage still carries it); the row keeps only the token's SHA-256 for
    the lookup. It works once, until ``expires_at``."""

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT, related_name="dispute_tokens")
    salt = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Dispute link of {RecoveryCase.reference_for(self.case_id)}"
