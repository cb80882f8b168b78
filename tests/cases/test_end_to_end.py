from datetime import timedelta

from approvals.models import Approval
from approvals.services import approval_grant
from audit.models import AuditEvent
from cases.execution import execution_run
from cases.services import case_claim, case_end_hold, case_execute, case_open, case_verify
from cases.states import Kind, State
from directory.models import RiskTier
from tests.cases.builders import check_totp, current_code
from tests.directory.factories import AuthenticatorFactory, IdentityFactory, SessionFactory


def test_privileged_mfa_rebind_runs_the_whole_lifecycle(
    clock, agent, other_agent, manager, other_manager
):
    subject = IdentityFactory(risk_tier=RiskTier.PRIVILEGED)
    lost_phone = AuthenticatorFactory(identity=subject, label="lost phone")
    spare_key = AuthenticatorFactory(identity=subject, label="spare")
    SessionFactory(identity=subject)

    case = case_open(
        actor=other_agent,
        subject=subject,
        kind=Kind.MFA_REBIND,
        intake_channel="phone",
        external_ticket="INC-42",
        replaced_authenticator=lost_phone,
    )
    assert case.state == State.NEW
    assert case.reference == f"RC-{case.pk:06d}"
    assert case.policy_snapshot["approvals_required"] == 2

    case = case_claim(case=case, agent=agent)
    assert case.state == State.VERIFYING

    evidence = check_totp(
        case=case, authenticator=spare_key, token=current_code(spare_key), actor=agent
    )
    assert evidence.outcome == "passed"
    case = case_verify(case=case, actor=agent)
    assert case.state == State.AWAITING_APPROVAL

    approval_grant(case=case, approver=manager, reason="Spoke to the subject's manager")
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    approval_grant(case=case, approver=other_manager, reason="Evidence is sound")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    assert case.cooling_off_at == case.approved_at
    assert case.hold_until == case.cooling_off_at + timedelta(hours=24)

    clock.shift(timedelta(hours=24))
    case = case_end_hold(case=case)
    assert case.state == State.READY

    case = case_execute(case=case, actor=agent)
    assert case.state == State.EXECUTING
    case = execution_run(case_id=case.pk)  # the task's step, once the hand-off is committed
    assert (case.state, case.execution_attempts) == (State.COMPLETED, 1)

    lost_phone.refresh_from_db()
    spare_key.refresh_from_db()
    assert lost_phone.revoked_at is not None
    assert spare_key.revoked_at is None
    assert not subject.sessions.filter(revoked_at__isnull=True).exists()
    assert Approval.objects.filter(case=case).count() == 2
    assert list(AuditEvent.objects.filter(case=case).values_list("action", flat=True)) == [
        "case.open",
        "case.claim",
        "evidence.passed",
        "case.verify",
        "approval.grant",
        "case.approve",
        "case.end_hold",
        "case.execute",
        "case.execution_done",
    ]
    # Every change is in the case history too (simple-history): create, 6 moves, 1 attempt.
    assert case.history.count() == 8
