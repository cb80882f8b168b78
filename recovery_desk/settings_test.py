"""Test settings: the environment still picks the database and the broker."""

from .settings import *  # noqa: F403
from .settings import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the race tests and the live Celery worker use other threads.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_recovery_desk.sqlite3")}
# The tests run the outbox backends on every database and broker (notices/checks.py).
ALLOW_OUTBOX_BACKENDS = True
