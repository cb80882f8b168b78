"""The outbox and console backends deliver nothing: a system check refuses them in production."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from notices.checks import outbox_backends_refused

PRODUCTION = {"DEBUG": False, "DEMO_MODE": False, "ALLOW_OUTBOX_BACKENDS": False}


def _ids(errors) -> list[tuple[str, str]]:
    return [(error.id, error.msg.split(" ")[0]) for error in errors]


def test_the_outbox_backends_are_refused_when_debug_is_off(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    settings.SMS_BACKEND = "notices.backends.outbox.OutboxBackend"
    settings.VOICE_BACKEND = "notices.backends.console.ConsoleBackend"
    settings.EMAIL_BACKEND = "notices.backends.outbox.EmailOutboxBackend"
    assert _ids(outbox_backends_refused()) == [
        ("notices.E001", "EMAIL_BACKEND"),
        ("notices.E001", "SMS_BACKEND"),
        ("notices.E001", "VOICE_BACKEND"),
    ]
    with pytest.raises(SystemCheckError, match="notices.E001"):
        call_command("check")


def test_real_backends_pass(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    settings.SMS_BACKEND = settings.VOICE_BACKEND = "example.provider.MessagingBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert outbox_backends_refused() == []


@pytest.mark.parametrize("allowed_by", ["DEBUG", "DEMO_MODE", "ALLOW_OUTBOX_BACKENDS"])
def test_debug_the_demo_or_an_explicit_setting_allow_them(settings, allowed_by):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    settings.SMS_BACKEND = "notices.backends.outbox.OutboxBackend"
    setattr(settings, allowed_by, True)
    assert outbox_backends_refused() == []
