"""Disputes: the subject can cancel a case in every open state ("this was not me"), except
while it is being carried out on the directory."""

from datetime import timedelta

import pytest

from audit.actions import Action
from audit.models import AuditEvent
from cases.errors import CaseError
from cases.services import case_dispute, freeze_lift
from cases.states import OPEN_STATES, State
from directory.models import Identity
from tests.cases.builders import open_case
from tests.helpers import (
    awaiting_approval_case,
    claimed_case,
    cooling_off_case,
    escalated_case,
    executing_case,
    execution_failed_case,
    ready_case,
    refused,
)

OPEN_BUILDERS = {
    State.NEW: lambda s: open_case(opener=s["agent"]),
    State.VERIFYING: lambda s: claimed_case(agent=s["agent"]),
    State.ESCALATED: lambda s: escalated_case(agent=s["agent"]),
    State.AWAITING_APPROVAL: lambda s: awaiting_approval_case(agent=s["agent"]),
    State.COOLING_OFF: lambda s: cooling_off_case(
        agent=s["agent"], approvers=[s["manager"], s["other_manager"]]
    ),
    State.READY: lambda s: ready_case(agent=s["agent"]),
    State.EXECUTING: lambda s: executing_case(agent=s["agent"]),
    State.EXECUTION_FAILED: lambda s: execution_failed_case(agent=s["agent"]),
}


def test_every_open_state_is_covered():
    assert set(OPEN_BUILDERS) == OPEN_STATES


def test_a_case_being_carried_out_on_the_directory_cannot_be_disputed(clock, agent):
    """A directory call cannot be stopped half way; the dispute waits for its outcome."""
    case = executing_case(agent=agent)
    with refused(case, code="wrong_state"):
        case_dispute(case=case, statement="I never called the help desk.")


@pytest.mark.parametrize("state", sorted(set(OPEN_BUILDERS) - {State.EXECUTING}))
def test_the_subject_can_dispute_a_case_in_any_open_state(
    state, clock, agent, manager, other_manager
):
    staff = {"agent": agent, "manager": manager, "other_manager": other_manager}
    case = OPEN_BUILDERS[state](staff)
    assert case.state == state
    case = case_dispute(case=case, statement="I never called the help desk.")
    assert (case.state, case.closing_reason) == (State.CANCELLED, "I never called the help desk.")


class TestTheFreeze:
    """A dispute freezes recovery for the identity for the pinned policy's ``dispute_freeze``
    (7 days by default); only a security reviewer lifts it."""

    def test_a_dispute_freezes_and_a_new_case_is_refused_until_a_reviewer_lifts_it(
        self, clock, agent, security_reviewer
    ):
        case = open_case(opener=agent)
        case = case_dispute(case=case, statement="Not me.")
        subject = Identity.objects.get(pk=case.subject_id)
        assert subject.recovery_frozen_until == case.closed_at + timedelta(days=7)
        event = AuditEvent.objects.get(case=case, action=Action.CASE_DISPUTE)
        assert event.detail["frozen_until"]
        with pytest.raises(CaseError) as refusal:
            open_case(opener=agent, subject=subject)
        assert refusal.value.code == "recovery_frozen"
        assert "security reviewer" in str(refusal.value)

        with pytest.raises(CaseError) as not_allowed:
            freeze_lift(identity=subject, actor=agent, reason="Checked with the owner.")
        assert not_allowed.value.code == "not_reviewer"
        with pytest.raises(CaseError) as no_reason:
            freeze_lift(identity=subject, actor=security_reviewer, reason=" ")
        assert no_reason.value.code == "reason_required"

        freeze_lift(identity=subject, actor=security_reviewer, reason="Checked with the owner.")
        lifted = AuditEvent.objects.get(action=Action.IDENTITY_FREEZE_LIFT)
        assert (lifted.identity_id, lifted.actor, lifted.detail["reason"]) == (
            subject.pk,
            security_reviewer,
            "Checked with the owner.",
        )
        assert open_case(opener=agent, subject=subject).state == State.NEW

    def test_the_freeze_ends_by_itself(self, clock, agent):
        case = case_dispute(case=open_case(opener=agent), statement="Not me.")
        subject = Identity.objects.get(pk=case.subject_id)
        clock.shift(timedelta(days=7, seconds=1))
        assert open_case(opener=agent, subject=subject).state == State.NEW

    def test_an_identity_that_is_not_frozen_has_nothing_to_lift(
        self, clock, agent, security_reviewer
    ):
        case = open_case(opener=agent)
        with pytest.raises(CaseError) as refusal:
            freeze_lift(identity=case.subject, actor=security_reviewer, reason="Why not.")
        assert refusal.value.code == "not_frozen"
        assert not AuditEvent.objects.filter(action=Action.IDENTITY_FREEZE_LIFT).exists()

    def test_the_freeze_comes_from_the_pinned_policy(self, clock, agent):
        from cases.models import PolicyRule

        case = open_case(opener=agent)
        PolicyRule.objects.update(dispute_freeze=timedelta(days=30))  # after opening
        case = case_dispute(case=case, statement="Not me.")
        until = Identity.objects.get(pk=case.subject_id).recovery_frozen_until
        assert until == case.closed_at + timedelta(days=7)
