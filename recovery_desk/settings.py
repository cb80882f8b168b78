"""Settings. The only module that reads the environment.

Embedded default: SQLite in ``var/`` and kombu's filesystem broker, so the whole system
runs with no server. Production: ``DATABASE_URL`` (PostgreSQL) and ``CELERY_BROKER_URL``
(Redis).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from .logging import configure as configure_logging

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RECOVERY_DESK_VAR_DIR", BASE_DIR / "var"))
if not VAR_DIR.exists():
    # Holds the embedded database (subjects' TOTP keys, staff password hashes) and the broker:
    # readable by this account only.
    VAR_DIR.mkdir(mode=0o700, parents=True)


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into a git-ignored file."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = BASE_DIR / ".secret_key"
    try:  # created readable by its owner only, atomically
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "recovery_desk.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "guardian",
    "axes",
    "simple_history",
    "directory",
    "cases",
    "verification",
    "approvals",
    "audit",
    "notices",
    "desk",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "recovery_desk.session_limits.StaffSessionLimit",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "recovery_desk.query_timeout.QueryTimeoutMiddleware",
]

ROOT_URLCONF = "recovery_desk.urls"
WSGI_APPLICATION = "recovery_desk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "desk.navigation.desk_nav",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'recovery_desk.sqlite3'}")
# PostgreSQL only (SQLite has no statement timeout): see below.
STATEMENT_TIMEOUT_MS = int(os.environ.get("STATEMENT_TIMEOUT_MS", 10_000))
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock at BEGIN, so two writers queue instead of both
    # reading a row and one failing ("database is locked") on its first write.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Bind parameters on the server and let psycopg prepare a statement after its N-th run on
    # a connection: every service re-runs the same few statements, and planning them cost more
    # than running them (bench/README.md). "off" turns preparing off (and binding on the
    # server with it: without preparing it is slower than client-side binding).
    # A prepared statement describes its columns' types: after a migration that changes a
    # column's type, running processes fail those statements until their connections are
    # replaced, so restart web and workers after such a migration (README, "Production").
    # Behind PgBouncer in transaction mode, preparing needs PgBouncer 1.21+.
    PREPARE_THRESHOLD = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
    if PREPARE_THRESHOLD != "off":
        DATABASES["default"]["OPTIONS"] = {
            "server_side_binding": True,
            "prepare_threshold": int(PREPARE_THRESHOLD),
        }
    # PostgreSQL cancels any statement that runs longer than this, on every connection: a
    # search or list that would scan a million rows answers a 503 page ("narrow it",
    # recovery_desk/query_timeout.py) instead of holding a worker and the database for
    # minutes. Statements of the services take milliseconds. 0 turns it off: run `migrate`
    # and bulk maintenance (seeding, backfills) with STATEMENT_TIMEOUT_MS=0.
    if STATEMENT_TIMEOUT_MS > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password guessing at the staff sign-in locks the account AND the address (django-axes locks
# by address only by default); django-otp throttles wrong codes per device on top.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = int(os.environ.get("STAFF_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("STAFF_LOGIN_COOLOFF_MINUTES", 15)))
# A success must not wipe the count of failures against other accounts from the same address.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "recovery_desk.client_ip.client_ip"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]
AXES_VERBOSE = False  # no banner on every start (it came before `make otp`'s code)
# django-guardian's anonymous user is for anonymous object permissions, which this app never
# grants: without it, the staff user list holds only people.
ANONYMOUS_USER_NAME = None

# Staff sign in to a console that can restore other people's access: keep sessions short.
# Idle for STAFF_SESSION_IDLE_MINUTES ends the session; so does STAFF_SESSION_MAX_HOURS.
SESSION_COOKIE_AGE = 60 * int(os.environ.get("STAFF_SESSION_IDLE_MINUTES", 30))
SESSION_SAVE_EVERY_REQUEST = True
STAFF_SESSION_MAX_AGE = timedelta(hours=int(os.environ.get("STAFF_SESSION_MAX_HOURS", 8)))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Production behind TLS: redirect to https, send HSTS, trust the proxy's scheme header.
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
BEHIND_TLS_PROXY = _env_bool("BEHIND_TLS_PROXY")
TRUSTED_PROXY_HOPS = int(os.environ.get("TRUSTED_PROXY_HOPS", 1))
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
OTP_TOTP_ISSUER = "Recovery Desk"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Celery: deadlines live in the database and beat sweeps them (docs/design.md "Time"), so
# no task ever waits in the broker for long.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
SWEEP_INTERVAL = timedelta(seconds=int(os.environ.get("SWEEP_INTERVAL_SECONDS", 60)))
SWEEP_BATCH_SIZE = int(os.environ.get("SWEEP_BATCH_SIZE", 200))
CELERY_BEAT_SCHEDULE = {
    "sweep-due-cases": {
        "task": "cases.tasks.sweep_due_cases",
        "schedule": SWEEP_INTERVAL.total_seconds(),
        # A sweep nobody ran within its interval is dropped: the next one does its work, so
        # sweeps never pile up while workers are down or when two beats run.
        "options": {"expires": SWEEP_INTERVAL.total_seconds()},
    },
    "sweep-pending-notifications": {
        "task": "notices.tasks.sweep_pending_notifications",
        "schedule": SWEEP_INTERVAL.total_seconds(),
        "options": {"expires": SWEEP_INTERVAL.total_seconds()},
    },
}

# Notices to subjects (docs/design.md "Notices"). SMS and voice go through a backend chosen
# here, in the shape of Django's email backends; email through EMAIL_BACKEND. The embedded
# defaults write to the outbox table (notices.OutboxMessage) the demo shows; the system check
# notices.E001 refuses them when DEBUG is off, unless in demo mode, on the embedded broker
# (one machine, nothing in production) or with ALLOW_OUTBOX_BACKENDS=1.
_EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("filesystem://")
SMS_BACKEND = os.environ.get("SMS_BACKEND", "notices.backends.outbox.OutboxBackend")
VOICE_BACKEND = os.environ.get("VOICE_BACKEND", "notices.backends.outbox.OutboxBackend")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "notices.backends.outbox.EmailOutboxBackend"
    if _EMBEDDED_BROKER
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT_SECONDS", 10))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Recovery Desk <noreply@localhost>")
ALLOW_OUTBOX_BACKENDS = _env_bool("ALLOW_OUTBOX_BACKENDS", _EMBEDDED_BROKER)
# Notices to one address in 24 hours (all templates, all identities sharing it); past it a
# notice is recorded as capped and not sent.
NOTICE_DAILY_CAP = int(os.environ.get("NOTICE_DAILY_CAP", 10))
NOTICE_MAX_ATTEMPTS = int(os.environ.get("NOTICE_MAX_ATTEMPTS", 5))
# Wait after the first failed attempt, doubled each time, at most 5 minutes.
NOTICE_RETRY_BACKOFF_SECONDS = int(os.environ.get("NOTICE_RETRY_BACKOFF_SECONDS", 30))

# Failure limits for evidence live in the policy table (cases.PolicyRule), per kind and tier.

# The directory the recoveries are carried out on (docs/design.md "Executing").
DIRECTORY_CONNECTOR = os.environ.get(
    "DIRECTORY_CONNECTOR", "directory.connectors.local.LocalDirectory"
)
# Tries at the directory before a case waits in execution_failed for an agent.
EXECUTION_MAX_ATTEMPTS = int(os.environ.get("EXECUTION_MAX_ATTEMPTS", 3))
# Backoff of the first retry, doubled each time (capped at 5 minutes: long waits belong in
# the database, not in a countdown).
EXECUTION_RETRY_BACKOFF_SECONDS = int(os.environ.get("EXECUTION_RETRY_BACKOFF_SECONDS", 10))
# A case in executing with no attempt for this long is re-driven by the sweep.
EXECUTION_STUCK_AFTER = timedelta(seconds=int(os.environ.get("EXECUTION_STUCK_SECONDS", 300)))

LOGGING = configure_logging(
    os.environ.get("LOG_LEVEL", "INFO"), json=_env_bool("LOG_JSON", not DEBUG)
)

# Reverting a row from its history would bypass the services and the audit trail.
SIMPLE_HISTORY_REVERT_DISABLED = True
# seed_demo and demo_otp create and reveal known credentials: only where asked for (make demo).
DEMO_MODE = _env_bool("RECOVERY_DESK_DEMO")

# Staff authenticator keys and backup codes never appear in the admin.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
