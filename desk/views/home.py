"""The desk home: what is waiting for this person, by role, instead of a list of tables."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from cases import selectors as case_selectors
from cases import services as case_services
from cases.models import Queue
from recovery_desk import clock

from .. import access
from . import inbox, reviews
from .base import render_page, run_service


def desk_home(request):
    roles = access.roles_of(request)
    now = clock.now()
    context = {
        "roles": roles,
        "now": now,
        "my_cases": case_selectors.my_open_cases(agent=request.user) if roles.works else [],
        "queues": case_selectors.queue_overviews(queue_ids=roles.works, now=now)
        if roles.works
        else [],
    }
    # Each role's section comes from the page module that owns that role's work.
    context.update(inbox.home_section(request, now) if roles.approves else {})
    context.update(reviews.home_section(request, now) if roles.reviews else {})
    return render_page(request, "desk/home.html", context, title="Desk")


@require_POST
def claim_next(request, queue_id: int):
    """The oldest claimable case of one queue (SKIP LOCKED: two agents never get the same)."""
    queue = get_object_or_404(Queue, pk=queue_id)
    access.require(queue.pk in access.roles_of(request).works, "You do not work this queue.")
    claimed = []
    if not run_service(
        request,
        lambda: claimed.append(case_services.case_claim_next(queue=queue, agent=request.user)),
    ):
        return HttpResponseRedirect(reverse("admin:index"))
    case = claimed[0]
    if case is None:
        messages.info(request, f"Nothing to claim in {queue.name}.")
        return HttpResponseRedirect(reverse("admin:index"))
    messages.success(request, f"You claimed {case.reference}.")
    return HttpResponseRedirect(reverse("admin:desk:case", args=[case.pk]))


def urls(wrap) -> list:
    return [path("claim-next/<int:queue_id>/", wrap(claim_next), name="claim_next")]
