"""CI must fail, never skip, when PostgreSQL or Redis cannot be reached."""

import sys

import psycopg
import redis

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"

try:
    with psycopg.connect(POSTGRES, connect_timeout=5) as conn:
        conn.execute("SELECT 1")
    redis.Redis.from_url(REDIS, socket_connect_timeout=5).ping()
except Exception as exc:  # noqa: BLE001 (any failure here means: stop CI, loudly)
    sys.exit(f"CI needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379: {exc}")
print("PostgreSQL and Redis are reachable.")
