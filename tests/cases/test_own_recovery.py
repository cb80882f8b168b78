"""Nobody recovers their own account: a staff member is the subject when the identity is linked
to them, carries their username in any letter case, or is a service identity they own; an agent
found to be the subject after claiming cannot go on (docs/design.md "Who may do what")."""

import pytest

from cases.errors import PermissionRefused
from cases.services import case_claim, case_execute, case_open, case_verify
from cases.states import Kind
from directory.models import Identity, RiskTier
from tests.cases.builders import open_case
from tests.cases.factories import make_agent
from tests.directory.factories import IdentityFactory
from tests.helpers import nothing_changed, ready_case, refused, verifiable


def test_a_staff_member_whose_username_differs_only_in_case_is_the_subject(clock, db):
    alice = make_agent(username="alice")
    subject = IdentityFactory(username="Alice")
    case = open_case(opener=make_agent(username="bob"), subject=subject)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_claim(case=case, agent=alice)


def test_the_owner_of_a_service_identity_cannot_work_its_recovery(clock, db):
    owner_staff = make_agent(username="owner.olga")
    owner = IdentityFactory(username="olga", staff_user=owner_staff)
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    case = open_case(opener=make_agent(username="bob"), subject=service)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_claim(case=case, agent=owner_staff)
    with pytest.raises(PermissionRefused):
        case_open(
            actor=owner_staff,
            subject=IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner),
            kind=Kind.PASSWORD_RESET,
            intake_channel="phone",
        )


def _link_subject_to(case, user) -> None:
    assert Identity.objects.filter(pk=case.subject_id).update(staff_user=user) == 1


SUBJECT_STEPS = {
    "verify": (verifiable, lambda case, agent: case_verify(case=case, actor=agent)),
    "execute": (
        lambda agent: ready_case(agent=agent),
        lambda case, agent: case_execute(case=case, actor=agent),
    ),
}


@pytest.mark.parametrize("step", SUBJECT_STEPS)
def test_an_agent_found_to_be_the_subject_after_claiming_cannot_go_on(step, clock, agent):
    build, act = SUBJECT_STEPS[step]
    case = build(agent)
    _link_subject_to(case, agent)
    with refused(case, code="own_recovery") as excinfo:
        act(case, agent)
    assert "their own account" in str(excinfo.value)
