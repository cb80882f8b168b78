"""The address a request came from, for django-axes' lockouts.

Behind a TLS proxy every request arrives from the proxy: locking "the address" would lock out
every staff member at once. The proxy appends the address it saw to X-Forwarded-For, so the
client is the entry ``TRUSTED_PROXY_HOPS`` from the right; entries further left are written
by the client and can be anything.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.BEHIND_TLS_PROXY:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if len(hops) < settings.TRUSTED_PROXY_HOPS:
        return remote  # not through the proxy chain we were told about
    return hops[-settings.TRUSTED_PROXY_HOPS]
