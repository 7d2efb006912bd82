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

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import http
from .token_cache import REFRESH_MARGIN_SECONDS, SharedToken

logger = logging.getLogger("wechat")

API = "stable_token"
# errcodes that need an operator (wrong appid/secret, server IP not whitelisted): log loudly.
_CONFIG_ERRCODES = {40013, 40125, 40164, 41002, 41004}

__all__ = ["REFRESH_MARGIN_SECONDS", "cache_key", "get_access_token", "invalidate_access_token", "lock_key"]


def cache_key() -> str:
    return f"wechat:access-token:{settings.WECHAT_APPID}"


def lock_key() -> str:
    return f"wechat:access-token-lock:{settings.WECHAT_APPID}"


def _fetch() -> dict:
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
    return data


_token = SharedToken(label="WeChat", api=API, cache_key=lambda: cache_key(), lock_key=lambda: lock_key(),
                     fetch=lambda: _fetch())


def get_access_token() -> str:
    """A valid access_token, from the cache or fetched by one worker for all.

    Raises `ExternalServiceError` when WeChat cannot be reached or refuses (nothing is cached then).
    """
    if not settings.WECHAT_SECRET:
        raise ImproperlyConfigured("WeChat server APIs need WECHAT_SECRET (the mini program's AppSecret).")
    return _token.get()


def invalidate_access_token(token: str) -> None:
    """Forget `token` after an API answered 40001 (invalid) or 42001 (expired) for it.

    Only that token is dropped: if another worker has already cached a newer one, it stays. The
    caller then asks `get_access_token()` again and retries its call once.
    """
    _token.invalidate(token)
