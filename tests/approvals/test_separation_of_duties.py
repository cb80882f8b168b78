"""Approving a case: approver != verifying agent != opener != subject, and one decision per
approver; N approvals from N people holding the policy's approver role on the case's queue, each
counting only while its approver still holds the role and before it lapses; one denial rejects;
the database holds separation of duties when the service is bypassed (docs/design.md
"Approvals")."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.models import Approval
from approvals.selectors import decisions_on
from approvals.services import approval_deny, approval_grant
from cases import access, roles
from cases.models import Queue, RecoveryCase
from cases.states import Kind, State
from directory.models import Identity, RiskTier
from recovery_desk import clock as one_clock
from tests.cases.factories import UserFactory, make_agent, make_manager, make_security_reviewer
from tests.directory.factories import IdentityFactory
from tests.helpers import awaiting_approval_case, give_role, refused, verified_case_for

REASON = "Spoke to the subject's line manager"


def test_n_approvals_come_from_n_distinct_approvers(clock, agent, manager, other_manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason=REASON)
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    approval_grant(case=case, approver=other_manager, reason=REASON)
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    assert set(case.approvals.values_list("approver", flat=True)) == {
        manager.pk,
        other_manager.pk,
    }


def test_an_approval_stops_counting_once_its_approver_loses_the_role(
    clock, agent, other_agent, manager, other_manager
):
    case = awaiting_approval_case(agent=agent, opener=other_agent)
    approval_grant(case=case, approver=manager, reason="Checked")
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    approval_grant(case=case, approver=other_manager, reason="Checked")
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    approval_grant(case=case, approver=make_manager(username="manager.fay"), reason="Checked")
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF


def test_a_manager_without_approval_rights_on_the_queue_is_refused(clock, agent):
    mfa_only = UserFactory(username="manager.mfa.only")
    mfa_only.groups.add(Group.objects.get(name=roles.MANAGERS))
    roles.grant_queue_role(
        holder=mfa_only, perm=roles.APPROVE, queue=Queue.objects.get(kind=Kind.MFA_REBIND)
    )
    case = awaiting_approval_case(agent=agent)  # a password reset
    with refused(case, code="not_approver"):
        approval_grant(case=case, approver=mfa_only, reason=REASON)


def test_approval_rights_on_the_queue_without_the_role_group_are_refused(clock, agent):
    not_a_manager = UserFactory(username="rights.without.role")
    for queue in Queue.objects.all():
        roles.grant_queue_role(holder=not_a_manager, perm=roles.APPROVE, queue=queue)
    case = awaiting_approval_case(agent=agent)
    with refused(case, code="not_approver"):
        approval_grant(case=case, approver=not_a_manager, reason=REASON)


def test_a_superuser_outside_the_approver_role_is_refused(clock, agent):
    admin = UserFactory(username="admin", is_superuser=True)
    case = awaiting_approval_case(agent=agent)
    with refused(case, code="not_approver"):
        approval_grant(case=case, approver=admin, reason=REASON)


def test_a_superuser_in_the_role_group_still_needs_rights_on_the_queue(clock, agent):
    admin = UserFactory(username="admin", is_superuser=True)
    admin.groups.add(Group.objects.get(name=roles.MANAGERS))
    case = awaiting_approval_case(agent=agent)
    with refused(case, code="not_approver"):
        approval_grant(case=case, approver=admin, reason=REASON)


def test_a_security_reviewer_policy_refuses_a_manager(clock, agent, manager):
    case = verified_case_for(agent=agent, tier=RiskTier.SERVICE)
    assert case.policy_snapshot["approver_role"] == "security_reviewer"
    with refused(case, code="not_approver"):
        approval_grant(case=case, approver=manager, reason=REASON)


def test_a_security_reviewer_policy_is_approved_by_security_reviewers(
    clock, agent, security_reviewer
):
    case = verified_case_for(agent=agent, tier=RiskTier.SERVICE)
    approval_grant(case=case, approver=security_reviewer, reason=REASON)
    approval_grant(
        case=case, approver=make_security_reviewer(username="security.frank"), reason=REASON
    )
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF


def test_one_deny_rejects_the_case(clock, agent, manager, other_manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason=REASON)
    approval_deny(case=case, approver=other_manager, reason="The caller's story does not add up")
    case.refresh_from_db()
    assert (case.state, case.closing_reason) == (
        State.REJECTED,
        "The caller's story does not add up",
    )


def test_an_approval_lapses_after_the_policy_approval_deadline(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    approval = approval_grant(case=case, approver=manager, reason=REASON)
    deadline = timedelta(seconds=case.policy_snapshot["approval_deadline"])
    assert approval.valid_until == approval.decided_at + deadline
    clock.shift(deadline - timedelta(seconds=1))
    assert decisions_on(case=case, now=timezone.now()).valid_approvals == 1
    clock.shift(timedelta(seconds=1))
    assert decisions_on(case=case, now=timezone.now()).valid_approvals == 0


def test_a_lapsed_approval_does_not_count_towards_the_quorum(clock, agent, manager, other_manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason=REASON)
    clock.shift(timedelta(days=1))
    # The case deadline and the first approval lapse together under the shipped policy; move
    # the case deadline out so that only the lapse of the approval is under test.
    RecoveryCase.objects.filter(pk=case.pk).update(expires_at=timezone.now() + timedelta(days=1))
    approval_grant(case=case, approver=other_manager, reason=REASON)
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL


def test_approving_after_the_approval_deadline_is_refused(clock, agent, manager, other_manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason=REASON)
    clock.shift(timedelta(days=1))
    with refused(case, code="deadline_passed"):
        approval_grant(case=case, approver=other_manager, reason=REASON)


# --- who may not approve: the subject, the verifier, the opener, nobody twice ----------------


@pytest.fixture
def agent_and_manager(db):
    user = make_agent(username="agent.manager.frank")
    give_role(user, roles.MANAGERS, roles.APPROVE)
    return user


def test_the_subject_cannot_approve_their_own_recovery(clock, agent, manager):
    subject = IdentityFactory(risk_tier=RiskTier.PRIVILEGED, staff_user=manager)
    case = verified_case_for(agent=agent, subject=subject)
    with refused(case, code="own_recovery"):
        approval_grant(case=case, approver=manager, reason="Looks fine to me")


def test_an_approver_cannot_approve_the_same_case_twice(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=manager, reason="Spoke to the subject's manager")
    with refused(case, code="already_decided"):
        approval_grant(case=case, approver=manager, reason="Approving again")


def test_the_agent_who_verified_a_case_cannot_approve_it(clock, agent, agent_and_manager):
    case = awaiting_approval_case(agent=agent_and_manager, opener=agent)
    with refused(case, code="separation_of_duties"):
        approval_grant(case=case, approver=agent_and_manager, reason="I checked it myself")


def test_the_person_who_opened_a_case_cannot_approve_it(clock, agent, agent_and_manager):
    case = awaiting_approval_case(agent=agent, opener=agent_and_manager)
    with refused(case, code="separation_of_duties"):
        approval_grant(case=case, approver=agent_and_manager, reason="I took the call")


# --- the database holds separation of duties even when the service is bypassed -------------


SOD_TRIGGER = "approval_separation_of_duties"


def _approval_row(case, approver) -> Approval:
    now = timezone.now()
    return Approval.objects.create(
        case=case,
        approver=approver,
        decision=Approval.Decision.APPROVED,
        reason=REASON,
        decided_at=now,
        valid_until=now + timedelta(days=1),
        case_opened_by_id=case.opened_by_id,
        case_verified_by_id=case.verified_by_id,
    )


def _the_rule_refuses(case, person, code: str) -> None:
    """The access module's rule (the one the service and the screens use) refuses the same
    person the database refuses: one rule, held in two places."""
    case = RecoveryCase.objects.select_related("queue", "subject__owner").get(pk=case.pk)
    refusal = access.approver_of_case(case, person, one_clock.now())
    assert refusal is not None and refusal.code == code


def test_the_database_refuses_an_approval_by_the_opener(clock, agent):
    opener = make_manager(username="manager.who.opened")
    give_role(opener, roles.AGENTS, roles.WORK)
    case = awaiting_approval_case(agent=agent, opener=opener)
    _the_rule_refuses(case, opener, "separation_of_duties")
    refusal = f"approver_is_not_opener|{SOD_TRIGGER}"
    with pytest.raises(IntegrityError, match=refusal), transaction.atomic():
        _approval_row(case, opener)


def test_the_database_refuses_an_approval_by_the_verifier(clock, agent, other_agent):
    case = awaiting_approval_case(agent=agent, opener=other_agent)
    _the_rule_refuses(case, agent, "separation_of_duties")
    refusal = f"approver_is_not_verifier|{SOD_TRIGGER}"
    with pytest.raises(IntegrityError, match=refusal), transaction.atomic():
        _approval_row(case, agent)


def test_the_database_refuses_two_decisions_by_one_approver(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    _approval_row(case, manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        _approval_row(case, manager)


def test_the_database_refuses_an_approval_by_the_subjects_own_staff_account(clock, agent):
    case = awaiting_approval_case(agent=agent)
    subject_staff = make_manager(username="manager.being.recovered")
    Identity.objects.filter(pk=case.subject_id).update(staff_user=subject_staff)
    _the_rule_refuses(case, subject_staff, "own_recovery")
    with pytest.raises(IntegrityError, match=SOD_TRIGGER), transaction.atomic():
        _approval_row(case, subject_staff)


def test_the_database_refuses_an_approval_by_the_owner_of_a_service_identity(clock, agent):
    owner_staff = make_manager(username="manager.owning.service")
    owner = IdentityFactory(staff_user=owner_staff)
    case = awaiting_approval_case(
        agent=agent, subject=IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    )
    _the_rule_refuses(case, owner_staff, "own_recovery")
    with pytest.raises(IntegrityError, match=SOD_TRIGGER), transaction.atomic():
        _approval_row(case, owner_staff)


def test_the_database_refuses_copies_that_differ_from_the_case(clock, agent, manager):
    case = awaiting_approval_case(agent=agent)
    forged = RecoveryCase(pk=case.pk, opened_by_id=manager.pk, verified_by_id=manager.pk)
    forged.subject_id = case.subject_id
    with pytest.raises(IntegrityError, match=SOD_TRIGGER), transaction.atomic():
        _approval_row(forged, agent)  # the real verifier, hidden behind forged copies
    assert not Approval.objects.filter(case=case).exists()
