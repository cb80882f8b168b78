"""The subject's public pages: no sign-in, outside the admin (docs/design.md "Notices").

``/dispute/<token>/``: GET asks "was this you?", POST (CSRF-protected) confirms "this was not
me" through ``dispute_confirm``. An unknown, spent or expired link, or a case that can no
longer be stopped, gets one and the same page and status, so the page tells nobody which
links exist.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from .dispute_services import dispute_confirm, dispute_token_valid

STATEMENT_MAX = 2000


def _not_valid(request: HttpRequest) -> HttpResponse:
    return render(request, "subject/dispute_invalid.html", status=404)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def dispute(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        case = dispute_confirm(
            token=token, statement=request.POST.get("statement", "")[:STATEMENT_MAX]
        )
        if case is None:
            return _not_valid(request)
        return render(request, "subject/dispute_done.html", {"reference": case.reference})
    row = dispute_token_valid(token)
    if row is None:
        return _not_valid(request)
    return render(
        request,
        "subject/dispute.html",
        {"reference": row.case.reference, "kind_label": row.case.get_kind_display()},
    )
