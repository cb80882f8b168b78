from django.db import models


class State(models.TextChoices):
    NEW = "new", "New"
    VERIFYING = "verifying", "Verifying"
    ESCALATED = "escalated", "Escalated to security"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    COOLING_OFF = "cooling_off", "Cooling off"
    READY = "ready", "Ready"
    EXECUTING = "executing", "Executing on the directory"
    EXECUTION_FAILED = "execution_failed", "Execution failed"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled (disputed)"
    EXPIRED = "expired", "Expired"
    ABANDONED = "abandoned", "Abandoned (directory failed)"


OPEN_STATES: frozenset[str] = frozenset(
    {
        State.NEW,
        State.VERIFYING,
        State.ESCALATED,
        State.AWAITING_APPROVAL,
        State.COOLING_OFF,
        State.READY,
        State.EXECUTING,
        State.EXECUTION_FAILED,
    }
)
TERMINAL_STATES: frozenset[str] = frozenset(State.values) - OPEN_STATES


class Kind(models.TextChoices):
    """Each kind of recovery is its own queue."""

    PASSWORD_RESET = "password_reset", "Password reset"
    MFA_REBIND = "mfa_rebind", "MFA re-bind"
    REACTIVATION = "reactivation", "Account reactivation"


class Channel(models.TextChoices):
    PHONE = "phone", "Phone"
    CHAT = "chat", "Chat"
    WALK_IN = "walk_in", "Walk-in"
    TICKET = "ticket", "Ticket"
    SELF_SERVICE = "self_service", "Self-service"
