"""Helpers shared by the specification tests: refusals that write nothing, cases in a given
state built through the real services, and staff holding more than one role."""

import re
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from approvals.models import Approval
from approvals.services import approval_grant
from audit.models import AuditEvent
from cases import roles
from cases.execution import execution_give_up, execution_run
from cases.models import Queue, RecoveryCase
from cases.policy import pinned_policy
from cases.services import (
    case_abandon,
    case_claim,
    case_dispute,
    case_end_hold,
    case_execute,
    case_expire,
    case_reject,
    case_verify,
)
from cases.states import Kind
from directory.connectors import ConnectorError
from directory.connectors.local import LocalDirectory
from directory.models import Authenticator, Identity, RiskTier
from recovery_desk import clock as one_clock
from recovery_desk.errors import DomainError
from tests.cases.builders import check_totp, current_code, new_subject, open_case
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


# A break-glass justification long enough for the rule (20 characters or more).
JUSTIFICATION = "Executive locked out before a board meeting; identity confirmed in person."


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


def _evidence_holder(case: RecoveryCase) -> Identity:
    return Identity.objects.get(pk=evidence_holder_id(case.subject))


def pass_totp(case: RecoveryCase, agent) -> Evidence:
    """The subject (or a service identity's owner) reads a correct code from a fresh
    authenticator of theirs."""
    authenticator = AuthenticatorFactory(identity=_evidence_holder(case))
    return check_totp(
        case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
    )


def fail_totp(case: RecoveryCase, agent, times: int = 1) -> None:
    authenticator = AuthenticatorFactory(identity=_evidence_holder(case))
    for _ in range(times):
        check_totp(
            case=case, authenticator=authenticator, token=wrong_code(authenticator), actor=agent
        )


def _subject(subject, tier: str, kind: str, kw: dict):
    subject = subject or new_subject(kind=kind, tier=tier)
    if kind == Kind.MFA_REBIND and "replaced_authenticator" not in kw:
        kw["replaced_authenticator"] = AuthenticatorFactory(identity=subject, label="lost")
    return subject


def claimed_case(
    *, agent, opener=None, subject=None, kind=Kind.PASSWORD_RESET, tier=RiskTier.STANDARD, **kw
) -> RecoveryCase:
    subject = _subject(subject, tier, kind, kw)
    case = open_case(opener=opener or agent, kind=kind, subject=subject, **kw)
    return case_claim(case=case, agent=agent)


def verified_case_for(*, agent, **kw) -> RecoveryCase:
    """Claimed by ``agent``, passing TOTP evidence, verified (the next state is the policy's)."""
    case = claimed_case(agent=agent, **kw)
    pass_totp(case, agent)
    return case_verify(case=case, actor=agent)


def escalated_case(*, agent, **kw) -> RecoveryCase:
    case = claimed_case(agent=agent, **kw)
    fail_totp(case, agent, times=pinned_policy(case).max_failures)
    case.refresh_from_db()
    return case


def awaiting_approval_case(*, agent, **kw) -> RecoveryCase:
    """Privileged password reset: two manager approvals, a 4-hour hold."""
    return verified_case_for(agent=agent, tier=RiskTier.PRIVILEGED, **kw)


def cooling_off_case(*, agent, approvers, **kw) -> RecoveryCase:
    case = awaiting_approval_case(agent=agent, **kw)
    for approver in approvers:
        approval_grant(case=case, approver=approver, reason="Checked the evidence")
    case.refresh_from_db()
    return case


def ready_case(*, agent, **kw) -> RecoveryCase:
    """Standard password reset: no approval, no hold, so verification makes it ready."""
    return verified_case_for(agent=agent, tier=RiskTier.STANDARD, **kw)


def executed(case: RecoveryCase, agent) -> RecoveryCase:
    """Execute, then run the directory step the task would run once the case is committed."""
    case_execute(case=case, actor=agent)
    return execution_run(case_id=case.pk)


class UnreachableDirectory(LocalDirectory):
    """A directory that fails every call (what an outage looks like to the connector's caller)."""

    name = "unreachable"

    def _down(self, *args, **kwargs) -> int:
        raise ConnectorError("The directory did not answer.")

    unlock = enable = revoke_sessions = replace_authenticators = set_password = _down


def executing_case(*, agent, **kw) -> RecoveryCase:
    """Sent to the directory; the task has not run yet."""
    return case_execute(case=ready_case(agent=agent, **kw), actor=agent)


def execution_failed_case(*, agent, **kw) -> RecoveryCase:
    """Every attempt at the directory failed; the case waits for an agent."""
    case = executing_case(agent=agent, **kw)
    for _ in range(settings.EXECUTION_MAX_ATTEMPTS):
        with pytest.raises(ConnectorError):
            execution_run(case_id=case.pk, connector=UnreachableDirectory())
    return execution_give_up(case_id=case.pk, error="The directory did not answer.")


def abandoned_case(*, agent, **kw) -> RecoveryCase:
    case = execution_failed_case(agent=agent, **kw)
    return case_abandon(case=case, actor=agent, reason="The directory account was migrated.")


def completed_case(*, agent, **kw) -> RecoveryCase:
    return executed(ready_case(agent=agent, **kw), agent)


def rejected_case(*, agent, **kw) -> RecoveryCase:
    case = claimed_case(agent=agent, **kw)
    return case_reject(case=case, actor=agent, reason="Caller could not read a code")


def cancelled_case(*, agent, **kw) -> RecoveryCase:
    return case_dispute(case=open_case(opener=agent, **kw), statement="This was not me.")


def expired_case(*, agent, clock, **kw) -> RecoveryCase:
    case = open_case(opener=agent, **kw)
    clock.move_to(case.expires_at)
    return case_expire(case=case)


def end_hold(case: RecoveryCase, clock) -> RecoveryCase:
    clock.move_to(case.hold_until)
    return case_end_hold(case=case)
