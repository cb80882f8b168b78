"""Claiming a case and keeping it: a claimed case cannot be claimed again, claim-next skips the
agent's own and overdue cases for the next claimable one, and only an agent who still holds the
agent role goes on with the case they claimed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Queue
from cases.services import case_claim, case_claim_next, case_execute, case_reject, case_verify
from cases.states import Kind, State
from directory.models import RiskTier
from tests.cases.builders import open_case
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import (
    check_code,
    claimed_case,
    ready_case,
    refused,
    revoke_agent_role,
    with_evidence,
)


def test_a_claimed_case_cannot_be_claimed_again(clock, agent, other_agent):
    case = claimed_case(agent=agent)
    with refused(case, code="wrong_state") as excinfo:
        case_claim(case=case, agent=other_agent)
    assert "is verifying; 'claim' is not possible" in str(excinfo.value)


def _own_subject_linked(agent):
    return IdentityFactory(staff_user=agent)


def _own_subject_by_name(agent):
    return IdentityFactory(username=agent.get_username().upper())


NOT_FOR_THIS_AGENT = {
    "own_linked_identity": _own_subject_linked,
    "own_username_other_case": _own_subject_by_name,
    "service_owned_via_link": lambda agent: IdentityFactory(
        risk_tier=RiskTier.SERVICE, owner=_own_subject_linked(agent)
    ),
    "service_owned_via_username": lambda agent: IdentityFactory(
        risk_tier=RiskTier.SERVICE, owner=_own_subject_by_name(agent)
    ),
}


@pytest.mark.parametrize("skipped", [*NOT_FOR_THIS_AGENT, "overdue"])
def test_claim_next_skips_the_agents_own_and_overdue_cases_for_the_next_claimable_one(
    skipped, clock, agent, other_agent
):
    if skipped == "overdue":
        older = open_case(opener=other_agent)
        clock.shift(timedelta(hours=12))
    else:
        older = open_case(opener=other_agent, subject=NOT_FOR_THIS_AGENT[skipped](agent))
    claimable = open_case(opener=other_agent)
    if skipped == "overdue":
        clock.shift(older.expires_at - timezone.now())
        assert timezone.now() < claimable.expires_at
    queue = Queue.objects.get(kind=Kind.PASSWORD_RESET)
    claimed = case_claim_next(queue=queue, agent=agent)
    assert claimed is not None
    assert (claimed.pk, claimed.state, claimed.assigned_agent_id) == (
        claimable.pk,
        State.VERIFYING,
        agent.pk,
    )
    older.refresh_from_db()
    assert (older.state, older.assigned_agent_id) == (State.NEW, None)


AGENT_STEPS = {
    "check_evidence": (lambda s: claimed_case(agent=s["agent"]), check_code),
    "verify": (
        lambda s: with_evidence(claimed_case(agent=s["agent"]), s["agent"]),
        lambda case, s: case_verify(case=case, actor=s["agent"]),
    ),
    "reject": (
        lambda s: claimed_case(agent=s["agent"]),
        lambda case, s: case_reject(case=case, actor=s["agent"], reason="Caller hung up"),
    ),
    "execute": (
        lambda s: ready_case(agent=s["agent"]),
        lambda case, s: case_execute(case=case, actor=s["agent"]),
    ),
}


@pytest.mark.parametrize("action", AGENT_STEPS)
def test_an_agent_removed_from_the_role_cannot_go_on_with_a_claimed_case(action, clock, agent):
    staff = {"agent": agent}
    build, act = AGENT_STEPS[action]
    case = build(staff)
    staff["authenticator"] = AuthenticatorFactory(identity=case.subject)
    revoke_agent_role(agent)
    with refused(case, code="role_revoked") as excinfo:
        act(case, staff)
    assert "no longer work" in str(excinfo.value)
