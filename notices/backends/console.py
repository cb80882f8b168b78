"""For development: print each message to standard output (like Django's console email
backend). Refused outside DEBUG by the same check as the outbox."""

import sys

from .base import MessageBackend, OutboundMessage


class ConsoleBackend(MessageBackend):
    def __init__(self, fail_silently: bool = False, stream=None, **kwargs) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.stream = stream or sys.stdout

    def send_messages(self, messages: list[OutboundMessage]) -> int:
        for message in messages:
            self.stream.write(f"[{message.kind} to {message.to}]\n{message.body}\n{'-' * 40}\n")
        self.stream.flush()
        return len(messages)
