"""The agent's desk home in a real browser: queues with their backlog, Claim next."""

import pytest
from playwright.sync_api import expect

from cases.states import State
from demo.builders import case_in

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_agent_claims_the_next_case_from_the_desk_home(sign_in, keep_screenshot, agent):
    waiting = case_in(State.NEW, agent=agent)
    page = sign_in(agent)
    expect(page.get_by_role("heading", name="My queues")).to_be_visible()
    row = page.locator("tr").filter(has_text=waiting.queue.name)
    expect(row).to_contain_text("1")
    keep_screenshot("desk-home-agent")
    row.get_by_role("button", name="Claim next").click()
    expect(page.get_by_text(f"You claimed {waiting.reference}.")).to_be_visible()
