"""Where SMS and voice messages go: a backend chosen by a setting, in the shape of Django's
email backends (``SMS_BACKEND``, ``VOICE_BACKEND``: dotted paths). Email goes through
``django.core.mail`` and ``EMAIL_BACKEND``.

A provider that sends messages (Twilio's, Vonage's or SNS's messaging APIs) plugs in as a
``MessageBackend``; "verify" services that keep the code themselves do not fit, because the
code and its tries are Recovery Desk's.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from .base import MessageBackend, OutboundMessage

__all__ = ["MessageBackend", "OutboundMessage", "get_backend"]

_SETTING_FOR_KIND = {"sms": "SMS_BACKEND", "voice": "VOICE_BACKEND"}


def get_backend(kind: str) -> MessageBackend:
    """A new backend instance for ``kind`` ("sms" or "voice")."""
    return import_string(getattr(settings, _SETTING_FOR_KIND[kind]))()
