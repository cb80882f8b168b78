"""Who may act on a case: every rule about *people*, each with one owner and one code.

The transition table (``cases/transitions.py``) names one of the actors below for each action;
services, the screens (through ``available_actions``) and the database trigger's tests all use
these same functions, so a rule is stated once. Each check is ``(case, actor, now) -> Refusal |
None``. ``actor`` is a staff ``User``, ``SUBJECT`` (the person being recovered, on a public
page) or ``SYSTEM`` (the sweep and the tasks).

Codes, one per rule:
``own_recovery`` nobody acts on their own recovery · ``not_agent`` works the queue ·
``not_agent_or_reviewer`` works or reviews the queue · ``not_assigned`` only the agent who
claimed it · ``role_revoked`` still works the queue ·
``not_reviewer`` / ``not_approver`` holds that role on the queue · ``separation_of_duties`` an
overseer took no part in the case · ``own_break_glass`` / ``reviewer_took_part`` a break-glass
is reviewed by someone else, who took no part in the case · ``already_decided`` N approvals
from N people ·
``owner_inactive`` a service identity is proved and acted for by an active owner ·
``system_only`` / ``subject_only`` / ``staff_only`` who the actor must be.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from directory.models import AccountState, Identity, RiskTier
from recovery_desk.actors import SUBJECT, SYSTEM

from . import roles
from .errors import Refusal
from .models import BreakGlassReview, RecoveryCase

Check = Callable[[RecoveryCase, object, datetime], Refusal | None]


@dataclass(frozen=True)
class Actor:
    """Who may do an action, in words (for the diagram and the docs) and as a check."""

    label: str
    check: Check


def _is_staff(actor) -> bool:
    return isinstance(actor, AbstractBaseUser)


# --- the person and their own recovery --------------------------------------------------------


def _is_person(user, identity: Identity) -> bool:
    return (
        identity.staff_user_id == user.pk
        or identity.username.casefold() == user.get_username().casefold()
    )


def is_subject(user, identity: Identity) -> bool:
    """Is this staff member the person being recovered, or the human owner answering for a
    service identity? (linked account, or the same username in any letter case)
    """
    if _is_person(user, identity):
        return True
    owner = identity.owner if identity.owner_id is not None else None
    return owner is not None and _is_person(user, owner)


def own_account_filter(user, *, prefix: str) -> Q:
    """The same rule as ``is_subject``, as a filter on identities reached through ``prefix``."""
    name = user.get_username()
    return (
        Q(**{f"{prefix}staff_user": user})
        | Q(**{f"{prefix}username__iexact": name})
        | Q(**{f"{prefix}owner__staff_user": user})
        | Q(**{f"{prefix}owner__username__iexact": name})
    )


OWN_RECOVERY = "Nobody may act on the recovery of their own account."


def not_own_recovery(identity: Identity, user) -> Refusal | None:
    if is_subject(user, identity):
        return Refusal("own_recovery", OWN_RECOVERY, "actor")
    return None


def owner_active(identity: Identity) -> Refusal | None:
    """A service identity is proved and acted for by its registered human owner, who must be
    an active account (DESIGN: "recovered only through its registered human owner")."""
    if identity.risk_tier != RiskTier.SERVICE:
        return None
    owner = identity.owner
    if owner is None or owner.account_state != AccountState.ACTIVE:
        return Refusal(
            "owner_inactive",
            f"{identity} is answered for by its owner, whose account is not active; "
            "a security reviewer must name an active owner first.",
        )
    return None


# --- roles on the case's queue ----------------------------------------------------------------


def _staff(actor) -> Refusal | None:
    if not _is_staff(actor):
        return Refusal("staff_only", "Only a signed-in staff member may do this.", "actor")
    return None


def works_queue(actor, queue) -> Refusal | None:
    if refusal := _staff(actor):
        return refusal
    if not roles.can_work(actor, queue):
        return Refusal("not_agent", f"You do not work the {queue} queue.", "actor")
    return None


def agent_of_queue(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    return works_queue(actor, case.queue) or not_own_recovery(case.subject, actor)


def assigned_agent(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """The agent who claimed the case, and still an agent of its queue: someone removed from
    the role (or deactivated) since claiming cannot go on with the case."""
    if refusal := _staff(actor):
        return refusal
    if case.assigned_agent_id != actor.pk:
        return Refusal(
            "not_assigned", f"Only the agent who claimed {case.reference} may do this.", "actor"
        )
    if not roles.can_work(actor, case.queue):
        return Refusal(
            "role_revoked",
            f"You no longer work the {case.queue} queue, so you cannot go on with "
            f"{case.reference}.",
            "actor",
        )
    return not_own_recovery(case.subject, actor)


def took_part(case: RecoveryCase, user, *, decided: bool | None = None) -> bool:
    """Opened, claimed or verified the case, or decided on it as an approver. ``decided``:
    whether they decided, when a list page has read it for all its rows at once."""
    if user.pk in (case.opened_by_id, case.assigned_agent_id, case.verified_by_id):
        return True
    if decided is not None:
        return decided
    from approvals.selectors import has_decided

    return has_decided(case=case, user=user)


def security_reviewer_anywhere(actor) -> Refusal | None:
    """A security reviewer of any queue: who lifts a freeze after a dispute, which belongs to
    an identity, not to one queue."""
    if refusal := _staff(actor):
        return refusal
    if not roles.queue_roles(actor).reviews:
        return Refusal(
            "not_reviewer", "Only a security reviewer can lift a recovery freeze.", "actor"
        )
    return None


def reviewer_apart_from_case(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """A security reviewer of the queue who took no part in the case: a reviewer oversees
    the people on the case, so is never one of them (someone holding both the agent and the
    reviewer role cannot release or break glass on their own work)."""
    if refusal := _staff(actor):
        return refusal
    return reviewer_apart_known(case, actor, reviews=roles.can_review(actor, case.queue))


def reviewer_apart_known(
    case: RecoveryCase, actor, *, reviews: bool, decided: bool | None = None
) -> Refusal | None:
    """``reviewer_apart_from_case`` for a staff member, from facts a list page read for all its
    rows at once (whether they review the queue, whether they decided on the case), so the
    page draws each row's buttons in a constant number of queries."""
    if not reviews:
        return Refusal(
            "not_reviewer", f"Only a security reviewer of {case.queue} may do this.", "actor"
        )
    if refusal := not_own_recovery(case.subject, actor):
        return refusal
    if took_part(case, actor, decided=decided):
        return Refusal(
            "separation_of_duties",
            f"You opened, worked or decided on {case.reference}; another security reviewer "
            "must do this.",
            "actor",
        )
    return None


# Events a review itself writes: reviewing a case's break-glass is not taking part in the case.
_REVIEW_ACTIONS = ("review.close", "review.overdue")


def acted_on_case(case: RecoveryCase, user) -> bool:
    """Any step on the case: named on it (opener, agent, verifier, gap releaser, breaker), an
    approval or denial, or any event of its trail (evidence checks, fraud flags, releases,
    execution...). Wider than ``took_part``: whoever reviews a break-glass afterwards judges
    everything that happened on the case, so must have done none of it."""
    named = (
        case.opened_by_id,
        case.assigned_agent_id,
        case.verified_by_id,
        case.gap_released_by_id,
        case.break_glass_by_id,
    )
    if user.pk in named:
        return True
    from approvals.selectors import has_decided
    from audit.models import AuditEvent

    if has_decided(case=case, user=user):
        return True
    trail = AuditEvent.objects.filter(case_id=case.pk, actor_id=user.pk)
    return trail.exclude(action__in=_REVIEW_ACTIONS).exists()


def break_glass_reviewer(review: BreakGlassReview, actor, now: datetime) -> Refusal | None:
    """Who closes a break-glass review: a security reviewer of the case's queue who is not the
    subject, did not break glass and took no part in the case (``acted_on_case``)."""
    case = review.case
    if refusal := _staff(actor):
        return refusal
    if not roles.can_review(actor, case.queue):
        return Refusal(
            "not_reviewer",
            f"Only a security reviewer of {case.queue} may review this break-glass.",
            "actor",
        )
    if refusal := not_own_recovery(case.subject, actor):
        return refusal
    if actor.pk == review.used_by_id:
        return Refusal(
            "own_break_glass",
            f"You broke glass on {case.reference}; another security reviewer must review it.",
            "actor",
        )
    if acted_on_case(case, actor):
        return Refusal(
            "reviewer_took_part",
            f"You took part in {case.reference}; a security reviewer who took no part in the "
            "case must review its break-glass.",
            "actor",
        )
    return None


def approver_of_case(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """Separation of duties (OWASP ASVS 2.3.5, docs/design.md "Approvals"): approver ≠ opener
    ≠ verifier ≠ subject, and N approvals come from N people holding the approver role."""
    from approvals.selectors import has_decided

    from .policy import pinned_policy

    if refusal := _staff(actor):
        return refusal
    if refusal := not_own_recovery(case.subject, actor):
        return refusal
    if actor.pk in (case.opened_by_id, case.assigned_agent_id, case.verified_by_id):
        return Refusal(
            "separation_of_duties",
            f"You opened or verified {case.reference}; a different person must approve it.",
            "actor",
        )
    role = pinned_policy(case).approver_role
    if not roles.can_approve(actor, case.queue, role):
        return Refusal(
            "not_approver",
            f"Approvals in {case.queue} for this tier come from a {role.replace('_', ' ')} "
            "holding approval rights on the queue.",
            "actor",
        )
    if has_decided(case=case, user=actor):
        return Refusal(
            "already_decided",
            f"You have already decided on {case.reference}; N approvals need N people.",
            "actor",
        )
    return None


def working_agent_or_reviewer(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    """Anyone who works or reviews the queue may raise the alarm (NIST SP 800-63A-4: proofing
    agents shall have a way to flag suspected fraud)."""
    if refusal := _staff(actor):
        return refusal
    if not (roles.can_work(actor, case.queue) or roles.can_review(actor, case.queue)):
        return Refusal(
            "not_agent_or_reviewer",
            f"Only an agent or a security reviewer of {case.queue} may flag a case.",
            "actor",
        )
    return not_own_recovery(case.subject, actor)


def system_only(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    if actor is not SYSTEM:
        return Refusal(
            "system_only",
            "This step happens by itself when its time comes; nobody triggers it by hand.",
            "actor",
        )
    return None


def subject_only(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
    if actor is not SUBJECT:
        return Refusal(
            "subject_only", "Only the person being recovered may dispute the case.", "actor"
        )
    return None


def by_state(actors: dict[str, "Actor"]) -> Check:
    """A different actor depending on the state the case is in."""

    def check(case: RecoveryCase, actor, now: datetime) -> Refusal | None:
        return actors[case.state].check(case, actor, now)

    return check


AGENT_OF_QUEUE = Actor("an agent of the queue", agent_of_queue)
ASSIGNED_AGENT = Actor("the assigned agent", assigned_agent)
REVIEWER = Actor("a security reviewer of the queue who took no part", reviewer_apart_from_case)
APPROVER = Actor("an approver of the queue who took no part", approver_of_case)
AGENT_OR_REVIEWER = Actor("an agent or security reviewer of the queue", working_agent_or_reviewer)
SYSTEM_ACTOR = Actor("the system (sweep or task)", system_only)
SYSTEM_ON_FAILURE = Actor("the system, when a failed check reaches the limit", system_only)
SUBJECT_ACTOR = Actor("the subject, on the public page", subject_only)
