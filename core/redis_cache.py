"""Django's Redis cache backend, without building a new client on every call.

Django's RedisCacheClient.get_client() constructs a `redis.Redis` for each cache operation, and
redis-py's constructor copies its ~170 response callbacks into a fresh dict every time: about a
millisecond of CPU per `cache.get`, more than the round trip to Redis. The hot paths read the cache
on every request (sessions of the rep assistant, the shop's shared listing pages), so the client is
built once per connection pool and kept. A `redis.Redis` is safe to share between threads (it
takes a connection from its pool for each command); everything else is Django's own backend.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
