"""The case page (stub until the case page is built)."""

from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from cases.models import RecoveryCase

from .. import access


def case_page(request, case_id: int):
    case = get_object_or_404(RecoveryCase, pk=case_id)
    access.require(access.may_view_case(request, case), "You have no role on this case's queue.")
    return HttpResponseRedirect(reverse("admin:cases_recoverycase_change", args=[case.pk]))


def urls(wrap) -> list:
    return [path("cases/<int:case_id>/", wrap(case_page), name="case")]
