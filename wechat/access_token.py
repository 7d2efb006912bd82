"""The mini program's access_token, shared by every process through Django's cache (Redis).

Server APIs (phone number, subscribe messages, wxacode) take `?access_token=…`. It lives up to
7200 s and is fetched with `POST /cgi-bin/stable_token`, not the older `GET /cgi-bin/token`:
each `cgi-bin/token` call issues a new token and invalidates the previous one, so two holders of
the AppSecret (this platform and, say, a WeChat console tool, or two of our own workers racing)
would keep knocking each other's token out. `stable_token` in its normal mode
(`force_refresh: false`) hands every caller the same token until 5 minutes before it expires,
and its tokens are independent of `cgi-bin/token`'s. The secret goes in the JSON body, not the URL.

Within our processes the token is cached until 5 minutes before `expires_in` (when WeChat starts
handing out the next one) and one worker at a time fetches it, under a `cache.add` lock; the
others wait for its result. Because normal-mode `stable_token` is idempotent, a waiter whose
lock holder is stuck may fetch on its own without harming anyone.

`force_refresh: true` (20 a day, which kills the current token for everyone) is deliberately not
used: it is for a leaked token, an operator's decision.
"""

from __future__ import annotations

import logging
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from . import http

logger = logging.getLogger("wechat")

API = "stable_token"
# WeChat rotates the token in its last 5 minutes; stop using ours by then.
REFRESH_MARGIN_SECONDS = 5 * 60
_POLL_SECONDS = 0.05
# errcodes that need an operator (wrong appid/secret, server IP not whitelisted): log loudly.
_CONFIG_ERRCODES = {40013, 40125, 40164, 41002, 41004}


def cache_key() -> str:
    return f"wechat:access-token:{settings.WECHAT_APPID}"


def lock_key() -> str:
    return f"wechat:access-token-lock:{settings.WECHAT_APPID}"


def _lock_seconds() -> int:
    # Longer than one fetch can take: requests applies the timeout to connect and read separately.
    return int(2 * settings.WECHAT_HTTP_TIMEOUT) + 2


def _cached_token() -> str | None:
    entry = cache.get(cache_key())
    # The refresh time is checked here and not left to the cache's expiry alone, so that the
    # rule holds whatever clock the cache server keeps.
    if isinstance(entry, dict) and entry.get("refresh_at", 0) > time.time():
        return entry["token"]
    return None


def _fetch_and_store() -> str:
    data = http.request_json(
        "POST",
        "/cgi-bin/stable_token",
        api=API,
        json_body={
            "grant_type": "client_credential",
            "appid": settings.WECHAT_APPID,
            "secret": settings.WECHAT_SECRET,
            "force_refresh": False,
        },
    )
    errcode = http.errcode_of(data)
    if errcode:
        level = logging.ERROR if errcode in _CONFIG_ERRCODES else logging.WARNING
        raise http.errcode_error(api=API, data=data, level=level)
    token, expires_in = data.get("access_token"), data.get("expires_in")
    if (
        not isinstance(token, str)
        or not token
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or expires_in <= 0
    ):
        logger.warning("WeChat %s answered without a usable access_token (fields: %s)", API, sorted(data))
        raise http.external_error(api=API, reason="bad_response")
    usable_for = expires_in - REFRESH_MARGIN_SECONDS
    if usable_for > 0:
        cache.set(cache_key(), {"token": token, "refresh_at": time.time() + usable_for}, timeout=usable_for)
    # else: already inside WeChat's rotation window; use it once and ask again next time.
    logger.info("WeChat %s fetched, expires_in=%s", API, expires_in)
    return token


def get_access_token() -> str:
    """A valid access_token, from the cache or fetched by one worker for all.

    Raises `ExternalServiceError` when WeChat cannot be reached or refuses (nothing is cached then).
    """
    if not settings.WECHAT_SECRET:
        raise ImproperlyConfigured("WeChat server APIs need WECHAT_SECRET (the mini program's AppSecret).")
    token = _cached_token()
    if token:
        return token
    owner = secrets.token_hex(8)
    lock_seconds = _lock_seconds()
    deadline = time.monotonic() + lock_seconds
    while True:
        if cache.add(lock_key(), owner, timeout=lock_seconds):
            try:
                # Someone may have stored one between our first look and taking the lock.
                return _cached_token() or _fetch_and_store()
            finally:
                # Release only our own lock: if ours expired and another worker took it, keep theirs.
                if cache.get(lock_key()) == owner:
                    cache.delete(lock_key())
        if time.monotonic() >= deadline:
            # The holder is stuck or died; normal-mode stable_token returns the same token to
            # everyone, so fetching alongside it is harmless.
            logger.warning("WeChat %s lock held for %ss; fetching without it", API, lock_seconds)
            return _fetch_and_store()
        time.sleep(_POLL_SECONDS)
        token = _cached_token()
        if token:
            return token


def invalidate_access_token(token: str) -> None:
    """Forget `token` after an API answered 40001 (invalid) or 42001 (expired) for it.

    Only that token is dropped: if another worker has already cached a newer one, it stays. The
    caller then asks `get_access_token()` again and retries its call once.
    """
    entry = cache.get(cache_key())
    if isinstance(entry, dict) and entry.get("token") == token:
        cache.delete(cache_key())
        logger.info("WeChat access_token dropped after the API refused it")
