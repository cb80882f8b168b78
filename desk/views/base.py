"""What every desk page shares: the admin site's context, one title, thin POST handling."""

from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse

from recovery_desk.errors import DomainError


def render_page(request, template: str, context: dict, *, title: str, status: int = 200):
    """A desk page inside the admin's frame (header, user tools, the desk menu)."""
    page = {**admin.site.each_context(request), "title": title, **context}
    return TemplateResponse(request, template, page, status=status)


def run_service(request, service, done: str | None = None) -> bool:
    """Call one service as its own transaction; a refusal becomes a message, never a 500.

    Durable: an entry point, never nested in a request-wide transaction that could roll back
    a recorded failure (a failed evidence check must stay counted).
    """
    try:
        with transaction.atomic(durable=True):
            service()
    except DomainError as refusal:
        messages.error(request, str(refusal))
        return False
    if done:
        messages.success(request, done)
    return True
