"""What we know about the accounts being recovered.

A subject (``Identity``) is not a staff user: staff are ``auth.User`` rows; an identity may
point at the staff user it belongs to so that separation-of-duty rules can see "this
approver is the subject".
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_otp.util import random_hex

from recovery_desk.history import HistoricalRecords


class RiskTier(models.TextChoices):
    STANDARD = "standard", "Standard"
    CONTRACTOR = "contractor", "Contractor (third party)"
    PRIVILEGED = "privileged", "Privileged (admins, executives, finance)"
    SERVICE = "service", "Service (non-human, recovered through its owner)"


# Lowest risk first. "Higher risk never gets an easier path than lower risk" (docs/design.md).
TIER_ORDER: tuple[str, ...] = (
    RiskTier.STANDARD,
    RiskTier.CONTRACTOR,
    RiskTier.PRIVILEGED,
    RiskTier.SERVICE,
)


class AccountState(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    LOCKED = "locked", "Locked"


class Identity(models.Model):
    username = models.CharField(max_length=150, unique=True)
    display_name = models.CharField(max_length=200)
    employee_id = models.CharField(max_length=64, blank=True, default="")
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    owner = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_service_identities",
        help_text="The human who answers for a service identity.",
    )
    risk_tier = models.CharField(max_length=16, choices=RiskTier, default=RiskTier.STANDARD)
    account_state = models.CharField(
        max_length=16, choices=AccountState, default=AccountState.ACTIVE
    )
    staff_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="identity",
        help_text="Set when this person is also a Recovery Desk staff member.",
    )
    # The local directory's own credential; never shown, never set by staff (ASVS 6.4.6).
    password_hash = models.CharField(max_length=256, blank=True, default="", editable=False)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the subject disputes a case ("this was not me"): no case opens for this identity
    # until then, unless a security reviewer lifts the freeze (cases/dispute_services.py).
    recovery_frozen_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["password_hash"])

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.CheckConstraint(
                name="service_identity_has_owner",
                condition=~Q(risk_tier="service") | Q(owner__isnull=False),
            ),
            models.CheckConstraint(
                name="identity_not_own_manager", condition=~Q(manager=models.F("pk"))
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.username})"


class ChannelOfRecord(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        VOICE = "voice", "Voice call"
        PUSH = "push", "Push device"

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=8, choices=Kind)
    address = models.CharField(max_length=254)
    verified_at = models.DateTimeField(null=True, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "channels of record"
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "kind", "address"], name="channel_unique_per_identity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address}"


class Authenticator(models.Model):
    """An enrolled authenticator of a subject. Every one ever bound is kept (NIST 800-63B-4 §4.1).

    The TOTP key stays on the server: it is excluded from history, admin forms and exports.
    """

    class Kind(models.TextChoices):
        TOTP = "totp", "TOTP app"

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="authenticators")
    kind = models.CharField(max_length=8, choices=Kind, default=Kind.TOTP)
    label = models.CharField(max_length=100)
    key = models.CharField(max_length=80, default=random_hex, editable=False)
    step = models.PositiveSmallIntegerField(default=30)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    # Highest time step accepted so far: a code at or below it is a replay.
    last_t = models.BigIntegerField(default=-1, editable=False)
    bound_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["key"])

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.get_kind_display()} '{self.label}' ({state})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ManagedDevice(models.Model):
    device_id = models.CharField(max_length=128, unique=True)
    owner = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="devices")
    managed = models.BooleanField(default=True)
    compliant = models.BooleanField(default=True)
    enrolled_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.device_id


class DirectorySession(models.Model):
    """An active sign-in of the subject in the directory, revoked after a recovery (ASVS 7.4.3)."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="sessions")
    client = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.client} since {self.started_at:%Y-%m-%d %H:%M}"
