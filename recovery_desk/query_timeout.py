"""A statement PostgreSQL cancelled for running too long answers a page that says so.

``STATEMENT_TIMEOUT_MS`` (settings) makes PostgreSQL cancel any statement past it. psycopg then
raises ``QueryCanceled`` (SQLSTATE 57014), which Django wraps in ``OperationalError``: without
this middleware that is a 500 and a stack trace. Here it is a 503 with a sentence the person can
act on ("narrow it"), and a warning in the log. Nothing was written: the cancelled statement's
transaction rolls back. The page needs no database (the connection may be in a failed
transaction), so it is plain HTML.
"""

import logging

from django.db import OperationalError
from django.http import HttpResponse
from django.utils.html import format_html

logger = logging.getLogger(__name__)

QUERY_CANCELED = "57014"

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Took too long | Recovery Desk</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>{heading}</h1>
<p>{sentence}</p>
<p><a href="{back}">Back</a> · <a href="/admin/">Back to the desk</a></p>
</body></html>"""


def is_query_cancelled(error: BaseException) -> bool:
    """True for a statement the database cancelled (its timeout), however it is wrapped."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == QUERY_CANCELED:
            return True
        if getattr(current, "pgcode", None) == QUERY_CANCELED:
            return True
        current = current.__cause__ or current.__context__
    return False


def timeout_page(request) -> HttpResponse:
    searching = bool(request.GET.get("q", "").strip())
    if searching:
        heading = "This search took too long"
        sentence = (
            "This search took too long; narrow it: a case reference (RC-000123), a ticket id, "
            "or more of the username, or a filter on the right."
        )
    else:
        heading = "This page took too long"
        sentence = (
            "This page took too long to load; narrow it with a filter or a search, or try "
            "again in a moment."
        )
    back = request.path  # the same list, without the search or the filters that were too wide
    html = format_html(_PAGE, heading=heading, sentence=sentence, back=back)
    response = HttpResponse(html, status=503)
    response["Retry-After"] = "30"
    return response


class QueryTimeoutMiddleware:
    """A cancelled statement (the timeout) on any page answers 503 with a sentence, not a 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError) and is_query_cancelled(exception):
            logger.warning(
                "statement cancelled by its timeout",
                extra={"path": request.path, "searching": "q" in request.GET},
            )
            return timeout_page(request)
        return None
