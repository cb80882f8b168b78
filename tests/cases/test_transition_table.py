from pathlib import Path

import pytest
from django.conf import settings

from cases.diagram import lifecycle_document
from cases.errors import TransitionNotAllowed
from cases.states import OPEN_STATES, TERMINAL_STATES, State
from cases.transitions import TRANSITIONS, allowed_transitions, apply_transition


def test_the_lifecycle_document_is_generated_from_the_table():
    committed = (Path(settings.BASE_DIR) / "docs" / "case-lifecycle.md").read_text()
    assert committed == lifecycle_document(), "run `make diagram` and commit docs/"


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_nothing_leaves_a_terminal_state(state):
    assert allowed_transitions(state) == []


@pytest.mark.parametrize("state", sorted(OPEN_STATES - {State.EXECUTING}))
def test_every_open_state_can_be_disputed_and_can_expire(state):
    names = {t.name for t in allowed_transitions(state)}
    assert {"dispute", "expire"} <= names


def test_only_the_system_moves_a_case_while_the_directory_is_called():
    """A directory call cannot be stopped half way: nothing but its outcome leaves executing."""
    leaving = {t.name for t in allowed_transitions(State.EXECUTING)}
    assert leaving == {"execution_done", "execution_failed"}
    assert {TRANSITIONS[name].actor.label for name in leaving} == {"the system (sweep or task)"}


def test_every_state_is_reachable_from_new():
    reached, frontier = {State.NEW}, [State.NEW]
    while frontier:
        for transition in allowed_transitions(frontier.pop()):
            for target in set(transition.targets) - reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State.values)


def test_break_glass_never_skips_verification_entirely():
    assert State.NEW not in TRANSITIONS["break_glass"].sources


@pytest.mark.django_db
def test_apply_transition_refuses_a_move_the_table_does_not_list(agent):
    from tests.cases.builders import open_case

    case = open_case(opener=agent)
    from django.db import transaction

    with pytest.raises(TransitionNotAllowed), transaction.atomic():
        apply_transition(case, "execute", target=State.COMPLETED, actor=agent, now=case.opened_at)
    case.refresh_from_db()
    assert case.state == State.NEW


@pytest.mark.django_db
def test_the_state_cannot_be_saved_around_the_transition_table(agent):
    from tests.cases.builders import open_case

    case = open_case(opener=agent)
    case.state = State.READY
    with pytest.raises(ValueError, match="transition table"):
        case.save()
    case.refresh_from_db()
    assert case.state == State.NEW


@pytest.mark.django_db
def test_a_case_cannot_be_saved_over_an_existing_id(agent):
    from cases.models import RecoveryCase
    from tests.cases.builders import open_case

    case = open_case(opener=agent)
    forged = RecoveryCase.objects.get(pk=case.pk)
    forged._state.adding = True
    forged.state = State.COMPLETED
    with pytest.raises(ValueError, match="never saved over an existing id"):
        forged.save()
    case.refresh_from_db()
    assert case.state == State.NEW
