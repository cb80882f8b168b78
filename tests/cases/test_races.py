"""Concurrent writers on one case, in real threads with their own connections.

On PostgreSQL the services hold row locks (``SELECT ... FOR UPDATE``, ``SKIP LOCKED`` for the
next-case claim), and the outcome must be the one a single writer at a time would produce.
SQLite queues every writer behind one database lock (``BEGIN IMMEDIATE``), so there these tests
would pass without any row lock: they only mean something on PostgreSQL, where CI runs them.
"""

import time
from functools import partial

import pytest
from django.db import connection
from django.db.models import Count

from approvals.models import Approval
from approvals.services import approval_grant
from audit.models import AuditEvent
from cases.errors import PermissionRefused, TransitionNotAllowed
from cases.models import Queue, RecoveryCase
from cases.services import case_claim, case_claim_next
from cases.states import Kind, State
from directory.models import AccountState, RiskTier
from tests.cases.builders import check_totp, current_code, open_case, verified_case
from tests.cases.factories import make_agent, make_manager
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import claimed_case, wrong_code
from verification import services as verification_services
from verification.models import Evidence

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serialises writers with one database lock, so a race cannot happen "
        "there; these run on PostgreSQL (CI).",
    ),
]

RACERS = 8


def _errors(outcomes):
    return [o.error for o in outcomes if o.error is not None]


def _events(case, action):
    return AuditEvent.objects.filter(case=case, action=action).count()


def test_agents_claiming_next_at_once_each_get_a_different_case(concurrently, other_agent):
    queue = Queue.objects.get(kind=Kind.PASSWORD_RESET)
    cases = [open_case(opener=other_agent) for _ in range(RACERS + 2)]
    agents = [make_agent(username=f"agent.racer{i}") for i in range(RACERS)]

    outcomes = concurrently(
        *(partial(case_claim_next, queue=queue, agent=agent) for agent in agents)
    )

    assert _errors(outcomes) == []
    claimed = [o.value for o in outcomes]
    assert all(case is not None for case in claimed), "an agent got nothing from a full queue"
    assert len({case.pk for case in claimed}) == RACERS
    for agent, case in zip(agents, claimed, strict=True):
        case.refresh_from_db()
        assert (case.state, case.assigned_agent_id) == (State.VERIFYING, agent.pk)
    # Oldest first: nobody skipped past a case that then stayed unclaimed.
    assert {case.pk for case in claimed} == {case.pk for case in cases[:RACERS]}


def test_agents_claiming_next_at_once_write_one_claim_event_per_case(concurrently, other_agent):
    queue = Queue.objects.get(kind=Kind.PASSWORD_RESET)
    for _ in range(RACERS + 2):
        open_case(opener=other_agent)
    agents = [make_agent(username=f"agent.racer{i}") for i in range(RACERS)]

    outcomes = concurrently(
        *(partial(case_claim_next, queue=queue, agent=agent) for agent in agents)
    )

    assert _errors(outcomes) == []
    claims_per_case = (
        AuditEvent.objects.filter(action="case.claim")
        .values("case")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert sorted(claims_per_case) == [1] * RACERS
    assert RecoveryCase.objects.filter(state=State.NEW).count() == 2


def test_two_agents_claiming_one_case_at_once_one_wins(concurrently, agent, other_agent):
    case = open_case(opener=make_agent(username="agent.opener"))

    outcomes = concurrently(
        partial(case_claim, case=case, agent=agent),
        partial(case_claim, case=case, agent=other_agent),
    )

    winners = [o for o in outcomes if o.error is None]
    losers = [o.error for o in outcomes if o.error is not None]
    assert len(winners) == 1
    assert [type(e) for e in losers] == [TransitionNotAllowed]
    assert losers[0].code == "wrong_state"  # it is verifying by the time the loser locks it
    case.refresh_from_db()
    assert case.assigned_agent_id == winners[0].value.assigned_agent_id
    assert _events(case, "case.claim") == 1


def test_one_approver_granting_ten_times_at_once_approves_once(concurrently, agent, manager):
    case = verified_case(agent=agent, tier=RiskTier.PRIVILEGED)  # two approvals needed

    outcomes = concurrently(
        *(
            partial(approval_grant, case=case, approver=manager, reason="Looks right")
            for _ in range(10)
        )
    )

    errors = _errors(outcomes)
    assert len(errors) == 9
    # The refusal is the service's, never the unique constraint's IntegrityError.
    assert {type(e) for e in errors} == {PermissionRefused}
    assert {e.code for e in errors} == {"already_decided"}
    assert Approval.objects.filter(case=case, approver=manager).count() == 1
    assert _events(case, "approval.grant") == 1
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL


def test_two_approvers_granting_both_needed_approvals_at_once_move_the_case_once(
    concurrently, agent, manager, other_manager
):
    case = verified_case(agent=agent, tier=RiskTier.PRIVILEGED)

    outcomes = concurrently(
        partial(approval_grant, case=case, approver=manager, reason="Looks right"),
        partial(approval_grant, case=case, approver=other_manager, reason="Agreed"),
    )

    assert _errors(outcomes) == []
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    assert Approval.objects.filter(case=case).count() == 2
    # Neither approval may be lost: the one committed second sees both and moves the case.
    assert _events(case, "approval.grant") == 1
    assert _events(case, "case.approve") == 1


def test_two_approvers_racing_for_the_last_approval_move_the_case_once(
    concurrently, agent, manager, other_manager
):
    case = verified_case(agent=agent, tier=RiskTier.PRIVILEGED)
    approval_grant(case=case, approver=manager, reason="Looks right")
    third_manager = make_manager(username="manager.frank")

    outcomes = concurrently(
        partial(approval_grant, case=case, approver=other_manager, reason="Agreed"),
        partial(approval_grant, case=case, approver=third_manager, reason="Agreed too"),
    )

    errors = _errors(outcomes)
    assert [type(e) for e in errors] == [TransitionNotAllowed]
    assert errors[0].code == "wrong_state"
    case.refresh_from_db()
    assert case.state == State.COOLING_OFF
    assert Approval.objects.filter(case=case).count() == 2
    assert _events(case, "case.approve") == 1


# --- evidence: failures count per person, a code counts once ---------------------------------


def _check(case, authenticator, agent, token):
    return check_totp(case=case, authenticator=authenticator, token=token, actor=agent)


def test_failures_on_two_cases_of_one_person_at_once_reach_the_limit(
    concurrently, agent, monkeypatch
):
    """Sequentially the third failure escalates; at once, neither check may read the count
    before the other has added to it (the person's row is locked)."""
    counted = verification_services._failure_counts

    def slow_count(case, attempt, policy, now):
        found = counted(case, attempt, policy, now)
        time.sleep(0.3)  # widen the window between reading the count and acting on it
        return found

    monkeypatch.setattr(verification_services, "_failure_counts", slow_count)
    subject = IdentityFactory(account_state=AccountState.LOCKED)  # reset and reactivation
    reset = claimed_case(agent=agent, subject=subject, kind=Kind.PASSWORD_RESET)
    reactivation = claimed_case(agent=agent, subject=subject, kind=Kind.REACTIVATION)
    phone, key = AuthenticatorFactory(identity=subject), AuthenticatorFactory(identity=subject)
    _check(reset, phone, agent, wrong_code(phone))

    outcomes = concurrently(
        partial(_check, reset, phone, agent, wrong_code(phone)),
        partial(_check, reactivation, key, agent, wrong_code(key)),
    )

    assert _errors(outcomes) == []
    states = set(RecoveryCase.objects.filter(subject=subject).values_list("state", flat=True))
    assert State.ESCALATED in states


def test_one_code_read_for_two_cases_of_one_person_at_once_passes_once(concurrently, agent):
    subject = IdentityFactory(account_state=AccountState.LOCKED)  # reset and reactivation
    reset = claimed_case(agent=agent, subject=subject, kind=Kind.PASSWORD_RESET)
    reactivation = claimed_case(agent=agent, subject=subject, kind=Kind.REACTIVATION)
    phone = AuthenticatorFactory(identity=subject)
    code = current_code(phone)

    outcomes = concurrently(
        partial(_check, reset, phone, agent, code),
        partial(_check, reactivation, phone, agent, code),
    )

    assert _errors(outcomes) == []
    assert sorted(o.value.outcome for o in outcomes) == [
        Evidence.Outcome.FAILED,
        Evidence.Outcome.PASSED,
    ]
