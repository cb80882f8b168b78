"""The queue listing (cases.selectors.queue_cases): what a row shows, fetched in one query."""

from datetime import timedelta

import pytest

from approvals.services import approval_grant
from cases.models import Queue
from cases.selectors import queue_cases
from cases.services import case_claim, case_dispute, case_expire, case_reject, case_verify
from cases.states import Kind, State
from directory.models import RiskTier
from tests.cases.builders import check_totp, current_code, open_case, verified_case
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import wrong_code

pytestmark = pytest.mark.django_db


def password_reset_queue() -> Queue:
    return Queue.objects.get(kind=Kind.PASSWORD_RESET)


def fill_queue(size: int, *, agent, manager) -> None:
    """Rows of every shape a listing shows: unclaimed, claimed, and verified with an approval."""
    for i in range(size):
        if i % 3 == 0:
            open_case(opener=agent)
        elif i % 3 == 1:
            case_claim(case=open_case(opener=agent), agent=agent)
        else:
            case = verified_case(agent=agent, tier=RiskTier.PRIVILEGED)
            approval_grant(case=case, approver=manager, reason="Checked the evidence")


def read_every_row(queue: Queue) -> list[tuple]:
    return [
        (
            case.subject.username,
            case.assigned_agent.username if case.assigned_agent else None,
            case.opened_by.username,
            case.passed_evidence,
            case.approvals_granted,
        )
        for case in queue_cases(queue=queue)
    ]


@pytest.mark.parametrize("size", [3, 30])
def test_queue_listing_takes_one_query_whatever_the_number_of_cases(
    size, django_assert_num_queries, agent, manager
):
    fill_queue(size, agent=agent, manager=manager)
    queue = password_reset_queue()

    with django_assert_num_queries(1):
        rows = read_every_row(queue)

    assert len(rows) == size
    assert (None, 0, 0) in {(r[1], r[3], r[4]) for r in rows}  # unclaimed rows
    assert (agent.username, 1, 1) in {(r[1], r[3], r[4]) for r in rows}  # approved once


def test_queue_listing_counts_only_passed_evidence_and_granted_approvals(
    agent, manager, other_manager
):
    subject = IdentityFactory(risk_tier=RiskTier.PRIVILEGED)
    phone, key = AuthenticatorFactory(identity=subject), AuthenticatorFactory(identity=subject)
    case = case_claim(case=open_case(opener=agent, subject=subject), agent=agent)
    check_totp(case=case, authenticator=phone, token=wrong_code(phone), actor=agent)
    for authenticator in (phone, key):
        check_totp(
            case=case, authenticator=authenticator, token=current_code(authenticator), actor=agent
        )
    case_verify(case=case, actor=agent)
    approval_grant(case=case, approver=manager, reason="Checked the evidence")
    approval_grant(case=case, approver=other_manager, reason="Agreed")

    (row,) = queue_cases(queue=password_reset_queue())

    assert row.state == State.COOLING_OFF
    # Two passed checks and two approvals: each counted once, not once per joined row.
    assert (row.passed_evidence, row.approvals_granted) == (2, 2)


def test_queue_listing_shows_the_oldest_case_first(clock, agent):
    clock.shift(timedelta(hours=2))
    newer = open_case(opener=agent)
    clock.shift(-timedelta(hours=1))
    older = open_case(opener=agent)  # created later, but opened at an earlier moment

    listed = list(queue_cases(queue=password_reset_queue()))

    assert [case.pk for case in listed] == [older.pk, newer.pk]


def test_queue_listing_shows_only_open_cases_of_that_queue(clock, agent, other_agent):
    late = open_case(opener=agent)
    clock.shift(timedelta(hours=25))
    case_expire(case=late)
    new = open_case(opener=agent)
    verifying = case_claim(case=open_case(opener=agent), agent=other_agent)
    case_dispute(case=open_case(opener=agent), statement="This was not me")
    case_reject(
        case=case_claim(case=open_case(opener=agent), agent=other_agent),
        actor=other_agent,
        reason="The caller could not answer",
    )
    open_case(opener=agent, kind=Kind.REACTIVATION)

    listed = {case.pk for case in queue_cases(queue=password_reset_queue())}

    assert listed == {new.pk, verifying.pk}
