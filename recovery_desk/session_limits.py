"""Staff sessions end after a spell of inactivity and, however active, after a working day.

Inactivity is Django's own session expiry (renewed on every request); the absolute limit is
kept here, from the first authenticated request of the session (OWASP ASVS 3.3).
"""

from datetime import datetime

from django.conf import settings
from django.contrib.auth import logout
from django.utils import timezone

SIGNED_IN_AT = "recovery_desk.signed_in_at"


class StaffSessionLimit:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = timezone.now()
            started = request.session.setdefault(SIGNED_IN_AT, now.isoformat())
            if now - datetime.fromisoformat(started) > settings.STAFF_SESSION_MAX_AGE:
                logout(request)  # the next page asks to sign in again
        return self.get_response(request)
