"""Helpers shared by the specification tests: refusals that write nothing, cases in a given
state built through the real services, and staff holding more than one role.

The cases come from ``demo.builders`` (``case_in`` and its steps), the builders the demo seed and
the benchmark use too; the names here keep the tests' defaults (the tier each state is usually
wanted in) and let factory_boy make the people and authenticators.
"""

import re
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group

from approvals.models import Approval
from audit.models import AuditEvent
from cases import roles
from cases.models import Queue, RecoveryCase
from cases.states import Kind, State
from demo import builders
from demo.builders import JUSTIFICATION, UnreachableDirectory  # noqa: F401  (imported from here)
from directory.models import Authenticator, Identity, RiskTier
from recovery_desk import clock as one_clock
from recovery_desk.errors import DomainError
from tests.cases.builders import check_totp, current_code, new_subject, open_case  # noqa: F401
from tests.directory.factories import AuthenticatorFactory
from verification.models import Evidence
from verification.selectors import evidence_holder_id
from verification.totp import totp_code_refused_at

STABLE_CODE = re.compile(r"[a-z][a-z_]*[a-z]")


def _snapshot(case: RecoveryCase) -> dict:
    return {
        "case": RecoveryCase.objects.filter(pk=case.pk).values().get(),
        "case_history": RecoveryCase.history.filter(id=case.pk).count(),
        "cases": RecoveryCase.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "approvals": Approval.objects.count(),
        "evidence": Evidence.objects.count(),
        "authenticators": list(
            Authenticator.objects.order_by("pk").values_list("pk", "last_t", "revoked_at")
        ),
    }


@contextmanager
def nothing_changed(case: RecoveryCase):
    """Assert the block leaves the case row, its history, the audit trail, approvals,
    evidence and authenticators exactly as they were."""
    before = _snapshot(case)
    yield
    after = _snapshot(case)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"a refused action wrote something: {changed}"


def assert_actionable(error: DomainError, code: str | None = None) -> None:
    """A domain error carries a stable code and a sentence a person can act on."""
    assert STABLE_CODE.fullmatch(error.code), error.code
    if code is not None:
        assert error.code == code
    message = str(error)
    assert message[:1].isupper() and message.endswith("."), message
    assert len(message.split()) >= 3, message


@contextmanager
def refused(case: RecoveryCase, code: str | None = None, error=DomainError):
    """The block raises ``error`` with ``code`` and a sentence, and writes nothing."""
    with nothing_changed(case), pytest.raises(error) as excinfo:
        yield excinfo
    assert_actionable(excinfo.value, code)


def give_role(user, group_name: str, *perms: str) -> None:
    """Add ``user`` to a role group and grant the role's permissions on every queue."""
    user.groups.add(Group.objects.get(name=group_name))
    for queue in Queue.objects.all():
        for perm in perms:
            roles.grant_queue_role(holder=user, perm=perm, queue=queue)


def wrong_code(authenticator: Authenticator) -> str:
    """A well-formed code the authenticator does not accept now (outside its tolerance too)."""
    return totp_code_refused_at(authenticator, at=one_clock.now())


def _evidence_holder(subject: Identity) -> Identity:
    """Who reads the code: the subject, or a service identity's owner."""
    return Identity.objects.get(pk=evidence_holder_id(subject))


def pass_totp(case: RecoveryCase, agent) -> Evidence:
    """The subject (or a service identity's owner) reads a correct code from a fresh
    authenticator of theirs."""
    authenticator = AuthenticatorFactory(identity=_evidence_holder(case.subject))
    return builders.pass_evidence(case, agent, authenticator=authenticator)


def fail_totp(case: RecoveryCase, agent, times: int = 1) -> None:
    authenticator = AuthenticatorFactory(identity=_evidence_holder(case.subject))
    builders.fail_evidence(case, agent, times=times, authenticator=authenticator)


def _subject(subject, tier: str, kind: str, kw: dict):
    subject = subject or new_subject(kind=kind, tier=tier)
    if kind == Kind.MFA_REBIND and "replaced_authenticator" not in kw:
        kw["replaced_authenticator"] = AuthenticatorFactory(identity=subject, label="lost")
    return subject


def case_in(
    state: str, *, agent, subject=None, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD, **kw
) -> RecoveryCase:
    """``demo.builders.case_in`` with the people made by the factories: a new subject of
    ``tier`` unless one is given, a named authenticator to replace for an MFA re-bind, and a
    fresh authenticator of the holder for the evidence."""
    subject = _subject(subject, tier, kind, kw)
    if state in builders.NEEDS_EVIDENCE and "authenticator" not in kw:
        kw["authenticator"] = AuthenticatorFactory(identity=_evidence_holder(subject))
    return builders.case_in(state, agent=agent, subject=subject, kind=kind, **kw)


def claimed_case(*, agent, **kw) -> RecoveryCase:
    return case_in(State.VERIFYING, agent=agent, **kw)


def verified_case_for(*, agent, **kw) -> RecoveryCase:
    """Claimed by ``agent``, passing TOTP evidence, verified (the next state is the policy's)."""
    case = claimed_case(agent=agent, **kw)
    pass_totp(case, agent)
    return builders.verify(case, agent)


def escalated_case(*, agent, **kw) -> RecoveryCase:
    return case_in(State.ESCALATED, agent=agent, **kw)


def awaiting_approval_case(*, agent, **kw) -> RecoveryCase:
    """Privileged password reset: two manager approvals, a 4-hour hold."""
    return case_in(State.AWAITING_APPROVAL, agent=agent, **{"tier": RiskTier.PRIVILEGED, **kw})


def cooling_off_case(*, agent, approvers, **kw) -> RecoveryCase:
    return case_in(
        State.COOLING_OFF, agent=agent, approvers=approvers, **{"tier": RiskTier.PRIVILEGED, **kw}
    )


def ready_case(*, agent, **kw) -> RecoveryCase:
    """Standard password reset: no approval, no hold, so verification makes it ready."""
    return case_in(State.READY, agent=agent, **kw)


def executed(case: RecoveryCase, agent) -> RecoveryCase:
    """Execute, then run the directory step the task would run once the case is committed."""
    return builders.executed(case, agent)


def executing_case(*, agent, **kw) -> RecoveryCase:
    """Sent to the directory; the task has not run yet."""
    return case_in(State.EXECUTING, agent=agent, **kw)


def execution_failed_case(*, agent, **kw) -> RecoveryCase:
    """Every attempt at the directory failed; the case waits for an agent."""
    return case_in(State.EXECUTION_FAILED, agent=agent, **kw)


def abandoned_case(*, agent, **kw) -> RecoveryCase:
    return case_in(State.ABANDONED, agent=agent, **kw)


def completed_case(*, agent, **kw) -> RecoveryCase:
    return case_in(State.COMPLETED, agent=agent, **kw)


def rejected_case(*, agent, **kw) -> RecoveryCase:
    return case_in(State.REJECTED, agent=agent, **kw)


def cancelled_case(*, agent, **kw) -> RecoveryCase:
    return case_in(State.CANCELLED, agent=agent, **kw)


def expired_case(*, agent, clock, **kw) -> RecoveryCase:
    return case_in(State.EXPIRED, agent=agent, clock=clock, **kw)


def end_hold(case: RecoveryCase, clock) -> RecoveryCase:
    return builders.end_hold(case, clock)


def check_code(case: RecoveryCase, staff: dict) -> Evidence:
    """The assigned agent (``staff["agent"]``) checks a correct code from
    ``staff["authenticator"]``."""
    authenticator = staff["authenticator"]
    return check_totp(
        case=case,
        authenticator=authenticator,
        token=current_code(authenticator),
        actor=staff["agent"],
    )


def read_code(case: RecoveryCase, agent):
    """Enrol a fresh authenticator for the subject; return the check of its current code."""
    authenticator = AuthenticatorFactory(identity=case.subject)
    return lambda: check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
    )


def with_evidence(case: RecoveryCase, agent) -> RecoveryCase:
    """``case`` after one passing TOTP check."""
    pass_totp(case, agent)
    return case


def verifiable(agent) -> RecoveryCase:
    """Being verified, with passing evidence, not yet verified."""
    return with_evidence(claimed_case(agent=agent), agent)


def revoke_agent_role(user) -> None:
    user.groups.remove(Group.objects.get(name=roles.AGENTS))
