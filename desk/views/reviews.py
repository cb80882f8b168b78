"""The security reviewer's pages: escalated cases to release or reject, and the post-event
reviews every break-glass opens (docs/design.md "Break-glass reviews").

Thin, like every desk page: the lists come from ``cases.review_selectors``, each POST calls one
service through ``run_service``, and a refusal (or bad input) draws the page again with the
service's sentence and what was typed. The services check every rule again on the locked rows.
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from cases import review_selectors
from cases.access import is_subject
from cases.dispute_services import frozen_identities
from cases.models import RecoveryCase, ReviewOutcome
from cases.review_services import close_refusal, review_close
from cases.services import case_reject, case_release, freeze_lift
from directory.models import Identity
from recovery_desk import clock

from .. import access
from .base import render_page, run_service

HOME_ROWS = 5
REASON_MAX = 2000
TEXT_MAX = 4000
RELEASE, REJECT = "release", "reject"
OWN_REVIEW = "This break-glass use was on your own account's recovery: other reviewers review it."


def home_section(request, now) -> dict:
    """What the desk home shows a reviewer (templates/desk/home/reviewer.html): escalated cases
    waiting, open reviews, overdue ones first and highlighted."""
    summary = review_selectors.reviewer_summary(
        viewer=request.user, queue_ids=access.roles_of(request).reviews, now=now, limit=HOME_ROWS
    )
    return {"review_summary": summary}


def _require_queue(request, queue) -> None:
    access.require(
        queue.pk in access.roles_of(request).reviews,
        f"You are not a security reviewer of the {queue} queue.",
    )


# --- escalations -------------------------------------------------------------------------------


class EscalationForm(forms.Form):
    action = forms.ChoiceField(choices=[(RELEASE, "Release"), (REJECT, "Reject")])
    # Empty is the service's to refuse, in its own words ("Say why the case may go on.").
    reason = forms.CharField(required=False, max_length=REASON_MAX)


_ESCALATION_SERVICES = {RELEASE: case_release, REJECT: case_reject}


def _escalations_page(request, *, status: int = 200, kept: dict | None = None):
    now = clock.now()
    rows = review_selectors.escalated_cases(
        user=request.user, queue_ids=access.roles_of(request).reviews, now=now
    )
    frozen = frozen_identities(queue_ids=access.roles_of(request).reviews, now=now)
    context = {
        "rows": rows,
        "frozen": frozen,
        "now": now,
        "reason_max": REASON_MAX,
        "kept": kept or {},
    }
    return render_page(
        request, "desk/escalations.html", context, title="Escalations", status=status
    )


def escalations(request):
    access.require_reviewer(request)
    return _escalations_page(request)


@require_POST
def escalation_decide(request, case_id: int):
    """Release one escalated case to verification, or reject it, with a reason."""
    access.require_reviewer(request)
    case = get_object_or_404(RecoveryCase.objects.select_related("queue"), pk=case_id)
    _require_queue(request, case.queue)
    form = EscalationForm(request.POST)
    kept = {"case_id": case.pk, "reason": request.POST.get("reason", "")[:REASON_MAX]}
    if not form.is_valid():
        if "reason" in form.errors:
            messages.error(request, f"Keep the reason under {REASON_MAX} characters.")
        else:
            messages.error(request, "Choose Release to verification or Reject.")
        return _escalations_page(request, kept=kept)
    action, reason = form.cleaned_data["action"], form.cleaned_data["reason"].strip()
    service = _ESCALATION_SERVICES[action]
    if not run_service(request, lambda: service(case=case, actor=request.user, reason=reason)):
        return _escalations_page(request, kept=kept)
    if action == RELEASE:
        messages.success(
            request,
            f"You released {case.reference} to verification: its agent checks the evidence "
            "again, and approvals given before are asked for again.",
        )
    else:
        messages.success(request, f"You rejected {case.reference}; your reason is in its trail.")
    return HttpResponseRedirect(reverse("admin:desk:escalations"))


@require_POST
def freeze_lift_page(request, identity_id: int):
    """Lift the freeze a dispute put on an identity's recoveries, with a reason."""
    access.require_reviewer(request)
    identity = get_object_or_404(Identity, pk=identity_id)
    reason = request.POST.get("reason", "")[:REASON_MAX].strip()
    kept = {"identity_id": identity.pk, "reason": reason}
    if not run_service(
        request, lambda: freeze_lift(identity=identity, actor=request.user, reason=reason)
    ):
        return _escalations_page(request, kept=kept)
    messages.success(
        request,
        f"You lifted the freeze on {identity.display_name}: cases may be opened again; "
        "your reason is in the trail.",
    )
    return HttpResponseRedirect(reverse("admin:desk:escalations"))


# --- break-glass reviews -----------------------------------------------------------------------


def reviews(request):
    access.require_reviewer(request)
    now = clock.now()
    queue_ids = access.roles_of(request).reviews
    context = {
        "now": now,
        "open_reviews": list(
            review_selectors.open_reviews(viewer=request.user, queue_ids=queue_ids, now=now)
        ),
        "closed_reviews": list(
            review_selectors.closed_reviews(viewer=request.user, queue_ids=queue_ids)
        ),
    }
    return render_page(request, "desk/reviews.html", context, title="Break-glass reviews")


class ReviewCloseForm(forms.Form):
    # Every rule (an outcome of the list, findings in a sentence) is the service's to state.
    outcome = forms.CharField(required=False, max_length=32)
    findings = forms.CharField(required=False, max_length=TEXT_MAX)
    follow_up = forms.CharField(required=False, max_length=TEXT_MAX)


def review(request, review_id: int):
    """One review: the break-glass facts, and the close form (disabled, with the refusal's
    sentence, for anyone who may not close it)."""
    access.require_reviewer(request)
    found = review_selectors.review_for_page(review_id=review_id)
    if found is None:
        raise Http404("There is no such break-glass review.")
    _require_queue(request, found.case.queue)
    access.require(not is_subject(request.user, found.case.subject), OWN_REVIEW)
    form = ReviewCloseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, f"Keep the findings and follow-up under {TEXT_MAX} characters.")
        elif run_service(
            request,
            lambda: review_close(
                review=found,
                reviewer=request.user,
                outcome=form.cleaned_data["outcome"],
                findings=form.cleaned_data["findings"],
                follow_up=form.cleaned_data["follow_up"],
            ),
        ):
            messages.success(
                request, f"You closed the break-glass review of {found.case.reference}."
            )
            return HttpResponseRedirect(reverse("admin:desk:review", args=[found.pk]))
    now = clock.now()
    context = {
        "review": found,
        "case": found.case,
        "facts": review_selectors.break_glass_facts(review=found),
        "refusal": close_refusal(found, request.user, now),
        "now": now,
        "overdue": found.is_open and found.due_at <= now,
        "outcomes": ReviewOutcome.choices,
        "typed": {
            "outcome": request.POST.get("outcome", ""),
            "findings": request.POST.get("findings", "")[:TEXT_MAX],
            "follow_up": request.POST.get("follow_up", "")[:TEXT_MAX],
        },
        "text_max": TEXT_MAX,
    }
    title = f"Break-glass review of {found.case.reference}"
    return render_page(request, "desk/review.html", context, title=title)


def urls(wrap) -> list:
    return [
        path("escalations/", wrap(escalations), name="escalations"),
        path(
            "escalations/<int:case_id>/decide/",
            wrap(escalation_decide),
            name="escalation_decide",
        ),
        path(
            "escalations/frozen/<int:identity_id>/lift/",
            wrap(freeze_lift_page),
            name="freeze_lift",
        ),
        path("reviews/", wrap(reviews), name="reviews"),
        path("reviews/<int:review_id>/", wrap(review), name="review"),
    ]
