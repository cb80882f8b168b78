"""A security reviewer oversees other people's work: only a reviewer rejects an escalated case,
and no reviewer releases, breaks glass on or otherwise oversees a case they opened, claimed,
worked or approved, even when they also hold the agent or approver role."""

import pytest

from approvals.services import approval_grant
from cases import roles
from cases.errors import PermissionRefused
from cases.services import case_break_glass, case_reject, case_release
from cases.states import State
from directory.models import RiskTier
from tests.cases.factories import make_agent, make_security_reviewer
from tests.helpers import (
    JUSTIFICATION,
    awaiting_approval_case,
    claimed_case,
    escalated_case,
    give_role,
    nothing_changed,
    refused,
)


@pytest.mark.parametrize("who", ["assigned agent", "manager"])
def test_only_a_security_reviewer_may_reject_an_escalated_case(who, clock, agent, manager):
    case = escalated_case(agent=agent)
    assert case.state == State.ESCALATED
    actor = {"assigned agent": agent, "manager": manager}[who]
    with refused(case, code="not_reviewer"):
        case_reject(case=case, actor=actor, reason="Looks like fraud to me")


@pytest.fixture
def reviewer_agent(db):
    user = make_security_reviewer(username="security.agent.gina")
    give_role(user, roles.AGENTS, roles.WORK)
    return user


def _worked_by(part: str, reviewer, agent, *, escalate: bool):
    opener, claimer = (reviewer, agent) if part == "opened" else (agent, reviewer)
    staff = {"opener": opener, "agent": claimer}
    return escalated_case(**staff) if escalate else claimed_case(**staff)


OVERSIGHT = {
    "release": (
        True,
        lambda case, actor: case_release(case=case, actor=actor, reason="Reviewed the calls"),
    ),
    "break_glass": (
        False,
        lambda case, actor: case_break_glass(
            case=case, actor=actor, reason="approvers_unreachable", justification=JUSTIFICATION
        ),
    ),
}


@pytest.mark.parametrize("action", OVERSIGHT)
@pytest.mark.parametrize("part", ["opened", "claimed"])
def test_a_security_reviewer_who_only_opened_or_only_claimed_a_case_cannot_oversee_it(
    part, action, clock, agent, reviewer_agent
):
    escalate, act = OVERSIGHT[action]
    case = _worked_by(part, reviewer_agent, agent, escalate=escalate)
    assert (case.opened_by_id == reviewer_agent.pk) == (part == "opened")
    assert (case.assigned_agent_id == reviewer_agent.pk) == (part == "claimed")
    assert case.verified_by_id is None
    with refused(case, code="separation_of_duties") as excinfo:
        act(case, reviewer_agent)
    assert "another security reviewer" in str(excinfo.value)


@pytest.fixture
def agent_and_reviewer(db):
    """One person holding both roles: allowed, but never on the same case."""
    person = make_agent(username="dual.role")
    give_role(person, roles.SECURITY_REVIEWERS, roles.REVIEW)
    return person


def test_a_reviewer_cannot_break_glass_on_a_case_they_work(clock, agent_and_reviewer):
    case = claimed_case(agent=agent_and_reviewer, tier=RiskTier.PRIVILEGED)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_break_glass(
            case=case,
            actor=agent_and_reviewer,
            reason="approvers_unreachable",
            justification="Executive locked out before board",
        )


def test_a_reviewer_cannot_release_their_own_escalated_case(clock, agent_and_reviewer):
    case = escalated_case(agent=agent_and_reviewer)
    with nothing_changed(case), pytest.raises(PermissionRefused):
        case_release(case=case, actor=agent_and_reviewer, reason="Looks fine to me")


def test_someone_who_approved_a_case_cannot_break_glass_on_it(clock, agent, security_reviewer):
    """A reviewer who also approves (security reviewers hold the approve role) and gave one
    of the approvals may not then skip the rest."""
    give_role(security_reviewer, roles.MANAGERS, roles.APPROVE)
    case = awaiting_approval_case(agent=agent)
    approval_grant(case=case, approver=security_reviewer, reason="Checked the evidence")
    with refused(case, code="separation_of_duties"):
        case_break_glass(
            case=case,
            actor=security_reviewer,
            reason="approvers_unreachable",
            justification=JUSTIFICATION,
        )
