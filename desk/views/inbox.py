"""The approvals inbox: cases waiting for *my* decision, oldest first, each with what I need to
decide it, and Approve / Deny with a reason that goes into the audit trail.

Which cases are listed is one SQL filter (``approvals.selectors.awaiting_decision_of``), the
``approve`` rule of the transition table in query form; the services check the rule again on
the locked case, so a list that is a moment old can never let a decision through wrongly.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from approvals.selectors import approvals_inbox
from approvals.services import approval_deny, approval_grant
from cases.models import RecoveryCase
from cases.states import State
from recovery_desk import clock

from .. import access
from .base import render_page, run_service

INBOX_ROWS = 50  # oldest first; the rest are counted (capped), not listed
HOME_ROWS = 3
REASON_MAX = 2000
APPROVE, DENY = "approve", "deny"


def home_section(request, now) -> dict:
    """What the desk home shows an approver (templates/desk/home/approver.html): how many
    cases wait for them and the oldest few."""
    waiting = approvals_inbox(
        user=request.user,
        approves=access.roles_of(request).approves,
        now=now,
        limit=HOME_ROWS,
        with_evidence=False,
    )
    return {"approver_inbox": waiting}


def inbox(request):
    access.require_approver(request)
    now = clock.now()
    waiting = approvals_inbox(
        user=request.user, approves=access.roles_of(request).approves, now=now, limit=INBOX_ROWS
    )
    context = {"inbox": waiting, "now": now, "reason_max": REASON_MAX}
    return render_page(request, "desk/inbox.html", context, title="Approvals inbox")


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(APPROVE, "Approve"), (DENY, "Deny")])
    # Empty is the service's to refuse, in its own words ("Give a reason for the decision.").
    reason = forms.CharField(required=False, max_length=REASON_MAX)


_SERVICES = {APPROVE: approval_grant, DENY: approval_deny}


@require_POST
def decide(request, case_id: int):
    """One decision on one case, through ``approval_grant`` or ``approval_deny``."""
    access.require_approver(request)
    case = get_object_or_404(RecoveryCase, pk=case_id)
    back = HttpResponseRedirect(reverse("admin:desk:inbox"))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        if "reason" in form.errors:
            messages.error(request, f"Keep the reason under {REASON_MAX} characters.")
        else:
            messages.error(request, "Choose Approve or Deny.")
        return back
    decision, reason = form.cleaned_data["decision"], form.cleaned_data["reason"].strip()
    service = _SERVICES[decision]
    if run_service(request, lambda: service(case=case, approver=request.user, reason=reason)):
        case.refresh_from_db(fields=["state"])
        messages.success(request, _decided(case, decision))
    return back


def _decided(case: RecoveryCase, decision: str) -> str:
    if decision == DENY:
        return f"You denied {case.reference}: it is rejected, with your reason in its audit trail."
    if case.state == State.AWAITING_APPROVAL:
        return f"You approved {case.reference}; it waits for another approver."
    return f"You approved {case.reference}; it moved on to {case.get_state_display().lower()}."


def urls(wrap) -> list:
    return [
        path("inbox/", wrap(inbox), name="inbox"),
        path("inbox/<int:case_id>/decide/", wrap(decide), name="inbox_decide"),
    ]
