from django.db.models import QuerySet

from .models import OutboxMessage


def outbox_for(address: str, *, limit: int = 20) -> QuerySet[OutboxMessage]:
    """What the embedded backends "sent" to ``address``, newest first (the demo shows it)."""
    return OutboxMessage.objects.filter(to=address).order_by("-created_at", "-pk")[:limit]
