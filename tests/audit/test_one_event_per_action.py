"""Every service writes exactly one audit event: the action, who did it, and old -> new state."""

from django.utils import timezone

from approvals.services import approval_deny, approval_grant
from audit.models import AuditEvent
from cases.execution import execution_run
from cases.policy import pinned_policy
from cases.services import (
    case_break_glass,
    case_claim,
    case_claim_next,
    case_dispute,
    case_end_hold,
    case_execute,
    case_expire,
    case_gap_release,
    case_reject,
    case_release,
    case_verify,
)
from cases.states import State
from tests.cases.builders import check_totp, open_case
from tests.directory.factories import AuthenticatorFactory
from tests.helpers import (
    awaiting_approval_case,
    claimed_case,
    cooling_off_case,
    escalated_case,
    pass_totp,
    ready_case,
    wrong_code,
)

NEW, VERIFYING, READY = State.NEW, State.VERIFYING, State.READY
REASON = "Reviewed with the subject's manager"


def the_one_event(action) -> tuple:
    """Run ``action``; assert it wrote exactly one audit event and describe that event."""
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    result = action()
    events = list(AuditEvent.objects.filter(id__gt=last))
    assert len(events) == 1, [e.action for e in events]
    event = events[0]
    case_id = getattr(result, "case_id", None) or result.pk
    assert event.case_id == case_id
    return event.action, event.actor, event.old_state, event.new_state


def test_case_open_writes_one_event(clock, agent):
    event = the_one_event(lambda: open_case(opener=agent))
    assert event == ("case.open", agent, "", NEW)


def test_case_claim_writes_one_event(clock, agent, other_agent):
    case = open_case(opener=other_agent)
    event = the_one_event(lambda: case_claim(case=case, agent=agent))
    assert event == ("case.claim", agent, NEW, VERIFYING)


def test_case_claim_next_writes_one_event(clock, agent, other_agent):
    case = open_case(opener=other_agent)
    event = the_one_event(lambda: case_claim_next(queue=case.queue, agent=agent))
    assert event == ("case.claim", agent, NEW, VERIFYING)


def test_a_passed_totp_check_writes_one_event(clock, agent):
    case = claimed_case(agent=agent)
    event = the_one_event(lambda: pass_totp(case, agent))
    assert event == ("evidence.passed", agent, "", "")


def test_a_failed_totp_check_writes_one_event(clock, agent):
    case = claimed_case(agent=agent)
    authenticator = AuthenticatorFactory(identity=case.subject)
    event = the_one_event(
        lambda: check_totp(
            case=case, authenticator=authenticator, token=wrong_code(authenticator), actor=agent
        )
    )
    assert event == ("evidence.failed", agent, "", "")


def test_the_escalating_totp_check_writes_one_event(clock, agent):
    case = claimed_case(agent=agent)
    authenticator = AuthenticatorFactory(identity=case.subject)

    def fail():
        return check_totp(
            case=case, authenticator=authenticator, token=wrong_code(authenticator), actor=agent
        )

    for _ in range(pinned_policy(case).max_failures - 1):
        fail()
    assert the_one_event(fail) == ("case.escalate", None, VERIFYING, State.ESCALATED)
    event = AuditEvent.objects.latest("id")
    assert (event.actor_kind, event.detail["checked_by"]) == ("system", agent.username)


def test_case_verify_writes_one_event(clock, agent):
    case = claimed_case(agent=agent)
    pass_totp(case, agent)
    event = the_one_event(lambda: case_verify(case=case, actor=agent))
    assert event == ("case.verify", agent, VERIFYING, READY)


def test_a_non_final_approval_writes_one_event(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    event = the_one_event(lambda: approval_grant(case=case, approver=manager, reason=REASON))
    assert event == ("approval.grant", manager, "", "")


def test_the_final_approval_writes_one_event(clock, agent, manager, other_manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason=REASON)
    event = the_one_event(lambda: approval_grant(case=case, approver=other_manager, reason=REASON))
    assert event == ("case.approve", other_manager, State.AWAITING_APPROVAL, State.COOLING_OFF)


def test_approval_deny_writes_one_event(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    event = the_one_event(lambda: approval_deny(case=case, approver=manager, reason=REASON))
    assert event == ("case.deny", manager, State.AWAITING_APPROVAL, State.REJECTED)
    assert AuditEvent.objects.latest("id").detail["reason"] == REASON


def test_case_release_writes_one_event(clock, agent, security_reviewer):
    case = escalated_case(agent=agent)
    event = the_one_event(lambda: case_release(case=case, actor=security_reviewer, reason=REASON))
    assert event == ("case.release", security_reviewer, State.ESCALATED, VERIFYING)


def test_case_gap_release_writes_one_event(clock, agent, security_reviewer):
    case = claimed_case(agent=agent)
    event = the_one_event(
        lambda: case_gap_release(case=case, actor=security_reviewer, reason=REASON)
    )
    assert event == ("case.gap_release", security_reviewer, "", "")


def test_case_reject_writes_one_event(clock, agent):
    case = claimed_case(agent=agent)
    event = the_one_event(lambda: case_reject(case=case, actor=agent, reason=REASON))
    assert event == ("case.reject", agent, VERIFYING, State.REJECTED)


def test_case_end_hold_writes_one_event_by_the_system(clock, agent, manager, other_manager):
    case = cooling_off_case(agent=agent, approvers=[manager, other_manager])
    clock.shift(case.hold_until - timezone.now())
    event = the_one_event(lambda: case_end_hold(case=case))
    assert event == ("case.end_hold", None, State.COOLING_OFF, READY)


def test_case_execute_writes_one_event(clock, agent):
    case = ready_case(agent=agent)
    event = the_one_event(lambda: case_execute(case=case, actor=agent))
    assert event == ("case.execute", agent, READY, State.EXECUTING)


def test_the_directory_step_writes_one_event_by_the_system(clock, agent):
    case = case_execute(case=ready_case(agent=agent), actor=agent)
    event = the_one_event(lambda: execution_run(case_id=case.pk))
    assert event == ("case.execution_done", None, State.EXECUTING, State.COMPLETED)


def test_case_break_glass_writes_one_event(clock, agent, security_reviewer):
    case = claimed_case(agent=agent)
    pass_totp(case, agent)
    event = the_one_event(
        lambda: case_break_glass(
            case=case,
            actor=security_reviewer,
            reason="approvers_unreachable",
            justification="Executive locked out before a board meeting.",
        )
    )
    assert event == ("case.break_glass", security_reviewer, VERIFYING, READY)


def test_case_dispute_writes_one_event_by_the_subject(clock, agent):
    case = claimed_case(agent=agent)
    event = the_one_event(lambda: case_dispute(case=case, statement="This was not me."))
    assert event == ("case.dispute", None, VERIFYING, State.CANCELLED)
    last = AuditEvent.objects.latest("id")
    assert (last.actor_kind, last.actor_label) == ("subject", "subject")


def test_case_expire_writes_one_event_by_the_system(clock, agent):
    case = open_case(opener=agent)
    clock.shift(case.expires_at - timezone.now())
    event = the_one_event(lambda: case_expire(case=case))
    assert event == ("case.expire", None, NEW, State.EXPIRED)


def test_system_events_are_labelled_as_the_system(clock, agent):
    case = open_case(opener=agent)
    clock.shift(case.expires_at - timezone.now())
    case_expire(case=case)
    event = AuditEvent.objects.latest("id")
    assert (event.actor_kind, event.actor_label) == ("system", "system")


def test_staff_events_name_the_staff_member(clock, agent):
    case = open_case(opener=agent)
    event = AuditEvent.objects.get(case=case)
    assert (event.actor_kind, event.actor, event.actor_label) == ("staff", agent, agent.username)
