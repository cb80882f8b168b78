"""The subject follows the dispute link in the message they received, in a real browser, with
no sign-in: a confirmation step first, then "this was not me" stops the recovery."""

import re

import pytest
from playwright.sync_api import expect

from cases.states import State
from directory.models import ChannelOfRecord
from notices.selectors import outbox_for
from notices.tasks import send_notification
from tests.cases.builders import new_subject, open_case
from tests.directory.factories import ChannelFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def sent_at_once(monkeypatch):
    """Notices go out in this process when the case's transaction commits."""
    monkeypatch.setattr(
        send_notification,
        "delay",
        lambda pk, **kw: send_notification.apply(args=(pk,), kwargs=kw).get(),
    )


def test_the_subject_follows_the_link_from_the_message_and_stops_the_recovery(
    page, keep_screenshot, agent, sent_at_once
):
    subject = new_subject()
    ChannelFactory(identity=subject, kind=ChannelOfRecord.Kind.SMS, address="+15550123")
    case = open_case(opener=agent, subject=subject)
    [message] = outbox_for("+15550123")
    link = re.search(r"\S*/dispute/\S+/", message.body).group(0)
    path = link[link.index("/dispute/") :]

    page.set_viewport_size({"width": 420, "height": 800})  # a phone, where the SMS is read
    page.goto(path)
    expect(page.get_by_role("heading", name="Was this you?")).to_be_visible()
    expect(page.get_by_text(case.reference)).to_be_visible()
    keep_screenshot("dispute-confirm-420")
    case.refresh_from_db()
    assert case.state == State.NEW  # opening the link changes nothing

    page.get_by_label("Anything security should know (optional)").fill("I was asleep.")
    page.get_by_role("button", name="No, this was not me — stop it").click()
    expect(page.get_by_role("heading", name="The recovery is stopped")).to_be_visible()
    keep_screenshot("dispute-done-420")
    case.refresh_from_db()
    assert (case.state, case.closing_reason) == (State.CANCELLED, "I was asleep.")
    subject.refresh_from_db()
    assert subject.recovery_frozen_until is not None

    page.goto(path)  # the link works once
    expect(page.get_by_role("heading", name="This link is no longer valid")).to_be_visible()
    keep_screenshot("dispute-invalid-420")


def test_a_security_reviewer_lifts_the_freeze_from_the_escalations_page(
    sign_in, keep_screenshot, agent, security_reviewer
):
    from cases.services import case_dispute

    subject = new_subject()
    case = case_dispute(case=open_case(opener=agent, subject=subject), statement="Not me.")
    page = sign_in(security_reviewer)
    page.get_by_role("navigation", name="Desk menu").get_by_role("link", name="Escalations").click()
    expect(page.get_by_role("heading", name="Recoveries frozen after a dispute")).to_be_visible()
    expect(page.get_by_role("link", name=case.reference)).to_be_visible()
    page.get_by_label(f"Reason for lifting the freeze on {subject.display_name}").fill(
        "The owner confirmed in person that the request was theirs."
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    keep_screenshot("escalations-frozen-1280")
    page.get_by_role("button", name="Lift the freeze").click()
    expect(page.locator(".messagelist")).to_contain_text("You lifted the freeze")
    subject.refresh_from_db()
    assert subject.recovery_frozen_until is None
