"""An access token shared by every process through Django's cache (Redis in production).

Used for the mini program's token (`wechat.access_token`) and WeCom's (`wechat.wecom`): cached
until `REFRESH_MARGIN_SECONDS` before `expires_in` (WeChat and WeCom hand out the next token in
that window), fetched by one worker at a time under a `cache.add` lock while the others wait for
its result. Both services return the same token to every caller while it is valid, so a waiter
whose lock holder is stuck may fetch on its own without harming anyone.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

from . import http

logger = logging.getLogger("wechat")

REFRESH_MARGIN_SECONDS = 5 * 60
POLL_SECONDS = 0.05


class SharedToken:
    def __init__(self, *, label: str, api: str, cache_key: Callable[[], str], lock_key: Callable[[], str],
                 fetch: Callable[[], dict]):
        self.label, self.api = label, api
        self.cache_key, self.lock_key = cache_key, lock_key
        self._fetch = fetch  # one HTTP call; returns the answer with its errcode already checked

    @staticmethod
    def lock_seconds() -> int:
        # Longer than one fetch can take: requests applies the timeout to connect and read separately.
        return int(2 * settings.WECHAT_HTTP_TIMEOUT) + 2

    def cached(self) -> str | None:
        entry = cache.get(self.cache_key())
        # The refresh time is checked here, not left to the cache's expiry alone, so the rule
        # holds whatever clock the cache server keeps.
        if isinstance(entry, dict) and entry.get("refresh_at", 0) > time.time():
            return entry["token"]
        return None

    def fetch_and_store(self) -> str:
        data = self._fetch()
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if (not isinstance(token, str) or not token or isinstance(expires_in, bool)
                or not isinstance(expires_in, int) or expires_in <= 0):
            logger.warning("%s %s answered without a usable access_token (fields: %s)", self.label, self.api,
                           sorted(data))
            raise http.external_error(api=self.api, reason="bad_response")
        usable_for = expires_in - REFRESH_MARGIN_SECONDS
        if usable_for > 0:
            cache.set(self.cache_key(), {"token": token, "refresh_at": time.time() + usable_for}, timeout=usable_for)
        # else: already inside the rotation window; use it once and ask again next time.
        logger.info("%s %s fetched, expires_in=%s", self.label, self.api, expires_in)
        return token

    def get(self) -> str:
        token = self.cached()
        if token:
            return token
        owner = secrets.token_hex(8)
        lock_seconds = self.lock_seconds()
        deadline = time.monotonic() + lock_seconds
        while True:
            if cache.add(self.lock_key(), owner, timeout=lock_seconds):
                try:
                    # Someone may have stored one between our first look and taking the lock.
                    return self.cached() or self.fetch_and_store()
                finally:
                    # Release only our own lock: if ours expired and another took it, keep theirs.
                    if cache.get(self.lock_key()) == owner:
                        cache.delete(self.lock_key())
            if time.monotonic() >= deadline:
                logger.warning("%s %s lock held for %ss; fetching without it", self.label, self.api, lock_seconds)
                return self.fetch_and_store()
            time.sleep(POLL_SECONDS)
            token = self.cached()
            if token:
                return token

    def invalidate(self, token: str) -> None:
        """Forget `token` after an API refused it; a newer one cached by another worker stays."""
        entry = cache.get(self.cache_key())
        if isinstance(entry, dict) and entry.get("token") == token:
            cache.delete(self.cache_key())
            logger.info("%s access_token dropped after the API refused it", self.label)
