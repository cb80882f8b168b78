from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class OutboundMessage:
    """One message as handed to a provider: the channel of record's address and the text."""

    kind: str  # "sms" or "voice"
    to: str
    body: str


class MessageBackend(ABC):
    """Base class of SMS and voice backends, modelled on Django's ``BaseEmailBackend``.

    ``send_messages`` hands the messages to the provider and returns how many it accepted. It
    raises on a failure the caller should retry (the provider is down, refused the request).
    """

    def __init__(self, fail_silently: bool = False, **kwargs) -> None:
        self.fail_silently = fail_silently

    @abstractmethod
    def send_messages(self, messages: list[OutboundMessage]) -> int:
        """Hand ``messages`` to the provider; return how many it accepted."""
