"""``{% dispute_link dispute_token %}``: the dispute link of a notice, computed when the notice
is rendered from the ``DisputeToken`` id its context keeps (cases/dispute_services.py)."""

from django import template

register = template.Library()


@register.simple_tag
def dispute_link(token_id) -> str:
    from cases.dispute_services import dispute_url_for

    return dispute_url_for(token_id) if token_id else ""
