"""The embedded backends: messages land in ``OutboxMessage``, which the demo shows.

Never in production: the system check ``notices.E001`` refuses them when DEBUG is off, unless
the demo mode, the embedded broker or ``ALLOW_OUTBOX_BACKENDS`` says otherwise.
"""

from django.core.mail.backends.base import BaseEmailBackend

from .base import MessageBackend, OutboundMessage


class OutboxBackend(MessageBackend):
    def send_messages(self, messages: list[OutboundMessage]) -> int:
        from notices.models import OutboxMessage

        for message in messages:
            OutboxMessage.objects.create(kind=message.kind, to=message.to, body=message.body)
        return len(messages)


class EmailOutboxBackend(BaseEmailBackend):
    """A Django email backend writing each recipient's copy to the same outbox table."""

    def send_messages(self, email_messages) -> int:
        from notices.models import OutboxMessage

        sent = 0
        for message in email_messages:
            for recipient in message.recipients():
                OutboxMessage.objects.create(
                    kind="email", to=recipient, subject=message.subject, body=message.body
                )
            sent += 1
        return sent
