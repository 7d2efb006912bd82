"""Where a request comes from."""

from django.conf import settings


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front, the entry
    of X-Forwarded-For that the outermost trusted proxy wrote (entries further left are the
    client's own say, and a client can write anything there)."""
    remote_addr = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote_addr
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if not entries:
        return remote_addr
    return entries[-min(proxies, len(entries))]
