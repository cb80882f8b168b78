"""Outbox and console backends never send anything to anybody: refuse them in production."""

from django.conf import settings
from django.core.checks import Error, Tags, register

NOT_DELIVERING = frozenset(
    {
        "notices.backends.outbox.OutboxBackend",
        "notices.backends.outbox.EmailOutboxBackend",
        "notices.backends.console.ConsoleBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    }
)


@register(Tags.security)
def outbox_backends_refused(app_configs=None, **kwargs) -> list[Error]:
    allowed = (
        settings.DEBUG
        or getattr(settings, "DEMO_MODE", False)
        or getattr(settings, "ALLOW_OUTBOX_BACKENDS", False)
    )
    if allowed:
        return []
    return [
        Error(
            f"{name} is {getattr(settings, name)}, which delivers no message: subjects would "
            "never get their notices or codes.",
            hint=f"Set {name} to a backend that sends (SMTP, a messaging provider), or set "
            "ALLOW_OUTBOX_BACKENDS=1 for a machine that must not send.",
            id="notices.E001",
        )
        for name in ("EMAIL_BACKEND", "SMS_BACKEND", "VOICE_BACKEND")
        if getattr(settings, name, None) in NOT_DELIVERING
    ]
