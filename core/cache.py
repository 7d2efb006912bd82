"""Django's Redis cache, made to survive Redis going away.

Redis holds only what can be rebuilt — cached listings, staff sessions written through to the
database, throttle counters, token locks — so an order must never fail because Redis is down.
Django's RedisCache raises on every call instead: one stopped Redis and saving a category, signing
in or checking out answered 500. This backend keeps Django's and, while Redis does not answer:

- a read is a miss (`get` gives the default, `get_many` nothing, `has_key` False): callers fall back
  to the database, as on any miss;
- a write does nothing (`set`, `set_many`, `touch`);
- `add` answers True: a lock or a "first time" guard taken while Redis is away is granted to each
  caller (two processes may both fetch a WeChat token; a throttle lets requests through) rather
  than refused to everyone;
- `incr` raises ValueError, as for a missing key, which every caller already handles;
- a `delete` (a session ended, a lock released) or a write that did not reach Redis is remembered,
  and those keys are deleted as soon as Redis answers again, before anything else is read: a
  value Redis kept across the outage never outlives a change made during it (a signed-out
  session stays signed out). Past MAX_REMEMBERED keys the backend forgets them one by one and
  deletes every key of this cache (its key prefix) instead.

Django's RedisCacheClient.get_client() also constructs a `redis.Redis` for each cache operation,
and redis-py's constructor copies its ~170 response callbacks into a fresh dict every time: about
a millisecond of CPU per call, more than the round trip to Redis, on paths that read the cache on
every request (staff sessions, the shop's shared listing pages). `ReusingRedisCacheClient` builds
the client once per connection pool and keeps it (a `redis.Redis` is safe to share between
threads: it takes a connection from its pool for each command).

Each failure is logged once per outage, not once per call. Connections time out quickly
(SOCKET_TIMEOUT), so a Redis that hangs rather than refuses costs a request a fraction of a second.
/readyz asks Redis itself (`ping`), so a load balancer still sees the outage.
"""

import functools
import logging
import threading

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
MAX_REMEMBERED = 10_000
SOCKET_TIMEOUT = 0.5  # seconds, connecting and each command: a healthy Redis answers in well under 1 ms


class ReusingRedisCacheClient(RedisCacheClient):
    """Django's client, keeping one `redis.Redis` per connection pool (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        options = params.setdefault("OPTIONS", {})
        options.setdefault("socket_connect_timeout", SOCKET_TIMEOUT)
        options.setdefault("socket_timeout", SOCKET_TIMEOUT)
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
        self._lock = threading.Lock()
        self._stale_keys: set[str] = set()   # raw keys to delete once Redis answers again
        self._purge_all = False             # too many to remember: delete every key of this cache
        self._down = False

    # The calls, each falling back as the module docstring says.

    def get(self, key, default=None, version=None):
        return self._call(lambda: super(ResilientRedisCache, self).get(key, default, version), default)

    def get_many(self, keys, version=None):
        return self._call(lambda: super(ResilientRedisCache, self).get_many(keys, version), {})

    def has_key(self, key, version=None):
        return self._call(lambda: super(ResilientRedisCache, self).has_key(key, version), False)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._write([key], version,
                           lambda: super(ResilientRedisCache, self).set(key, value, timeout, version))

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        self._write(list(data), version, lambda: super(ResilientRedisCache, self).set_many(data, timeout, version))
        return []

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._write([key], version,
                           lambda: super(ResilientRedisCache, self).add(key, value, timeout, version), fallback=True)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._write([key], version,
                           lambda: super(ResilientRedisCache, self).touch(key, timeout, version), fallback=False)

    def delete(self, key, version=None):
        return self._write([key], version, lambda: super(ResilientRedisCache, self).delete(key, version),
                           fallback=False)

    def delete_many(self, keys, version=None):
        self._write(list(keys), version, lambda: super(ResilientRedisCache, self).delete_many(keys, version))

    def incr(self, key, delta=1, version=None):
        try:
            return self._run(lambda: super(ResilientRedisCache, self).incr(key, delta, version))
        except UNREACHABLE:
            self._remember([key], version)
            raise ValueError(f"Key '{key}' not found (Redis unreachable).") from None

    def ping(self) -> bool:
        """Ask Redis itself (for /readyz): raises when it does not answer."""
        return self._cache.get_client(None).ping()

    # The machinery.

    def _call(self, operation, fallback):
        try:
            return self._run(operation)
        except UNREACHABLE:
            return fallback

    def _write(self, keys, version, operation, fallback=None):
        try:
            return self._run(operation)
        except UNREACHABLE:
            self._remember(keys, version)
            return fallback

    def _run(self, operation):
        try:
            if self._stale_keys or self._purge_all:
                self._forget_stale()
            result = operation()
        except UNREACHABLE as error:
            if not self._down:
                self._down = True
                logger.warning("Redis cache unreachable (%s): serving without it until it answers", error)
            raise
        if self._down:
            self._down = False
            logger.warning("Redis cache answers again")
        return result

    def _remember(self, keys, version) -> None:
        with self._lock:
            if self._purge_all:
                return
            self._stale_keys.update(self.make_key(key, version=version) for key in keys)
            if len(self._stale_keys) > MAX_REMEMBERED:
                self._stale_keys.clear()
                self._purge_all = True

    def _forget_stale(self) -> None:
        """Delete what changed while Redis was away; raises (keeping the list) if it still is."""
        with self._lock:
            keys, purge_all = list(self._stale_keys), self._purge_all
        client = self._cache.get_client(None, write=True)
        if purge_all:
            pattern = self.make_key("*")  # this cache's prefix and version, then anything
            batch = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
        else:
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start:start + 1000])
        with self._lock:
            self._stale_keys.difference_update(keys)
            if purge_all:
                self._purge_all = False
