"""Rate limits on API endpoints: fixed windows counted in the cache (the scopes: customers/throttling.py).

Redis counts atomically (INCR), so twelve requests at the same instant are twelve counts: a
limit of 10 lets exactly 10 through. (DRF's own throttles read a history, append and write it
back, which lets a burst slip past.) A refused request is answered 429 in the usual error shape
by core.api's exception handler, before the view runs: nothing is written and no WeChat code is
spent. Rates come from settings.API_RATE_LIMITS ("<count>/<second|minute|hour|day>").
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

from .net import client_ip

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/hour' → (10, 3600)."""
    count, _, period = (rate or "").partition("/")
    if not count.strip().isdigit() or period.strip()[:1] not in _PERIODS:
        raise ImproperlyConfigured(f"rate limit {rate!r} must be <count>/<second|minute|hour|day>")
    return int(count), _PERIODS[period.strip()[0]]


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def identity(self, request) -> str | None:
        """Who is counted; None: this throttle does not apply to the request."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        who = self.identity(request)
        if who is None:
            return True
        limit, period = parse_rate(settings.API_RATE_LIMITS[self.scope])
        now = time.time()
        window = int(now // period)
        self._wait = period - (now % period)
        key = f"ratelimit:{self.scope}:{who}:{window}"
        # The window's first request creates the counter with its expiry; the others increment it.
        if cache.add(key, 1, timeout=period + 1):
            return limit >= 1
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls: a new window
            cache.add(key, 1, timeout=period + 1)
            count = 1
        return count <= limit

    def wait(self) -> float:
        return self._wait


class IpThrottle(FixedWindowThrottle):
    def identity(self, request) -> str | None:
        return client_ip(request) or None
