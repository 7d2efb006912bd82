"""The Redis cache while Redis is away (core/cache.py), against a redis-server of the test's own."""

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore

from core.cache import MAX_REMEMBERED, ResilientRedisCache
from tests.faults.harness import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason="redis-server is not installed")


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cache(redis_server):
    return ResilientRedisCache(redis_server.url(3), {})


def test_while_redis_answers_it_is_djangos_redis_cache(cache):
    assert cache.add("k", 1, timeout=None) is True
    assert cache.add("k", 2) is False
    assert cache.incr("k") == 2
    cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert cache.ping() is True


def test_while_redis_is_away_reads_miss_writes_do_nothing_and_locks_are_granted(cache, redis_server):
    redis_server.stop()

    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k"]) == {}
    assert cache.has_key("k") is False
    assert cache.set("k", 1) is None
    assert cache.add("lock", "me", timeout=5) is True   # granted to each caller, never refused to all
    with pytest.raises(ValueError):
        cache.incr("version")                          # as for a missing key: callers handle it
    with pytest.raises(Exception):
        cache.ping()                                   # /readyz still sees the outage


def test_a_delete_made_while_redis_was_away_is_applied_when_it_answers(cache, redis_server):
    """A signed-out session must not come back from a Redis that kept it across the outage."""
    cache.set("session", "signed in")
    cache.set("other", "kept")
    paused = redis_server.process
    paused.send_signal(19)  # SIGSTOP: Redis keeps its data but does not answer
    try:
        assert cache.delete("session") is False
        assert cache.get("session") is None
    finally:
        paused.send_signal(18)  # SIGCONT

    assert cache.get("session") is None     # deleted before anything else was read
    assert cache.get("other") == "kept"     # only what changed is forgotten


def test_past_the_limit_it_deletes_every_key_of_this_cache(cache, redis_server, monkeypatch):
    monkeypatch.setattr("core.cache.MAX_REMEMBERED", 2)
    cache.set_many({"a": 1, "b": 2, "c": 3})
    redis_server.process.send_signal(19)
    try:
        cache.delete_many(["a", "b", "c"])
    finally:
        redis_server.process.send_signal(18)

    assert cache.get_many(["a", "b", "c"]) == {}
    assert MAX_REMEMBERED > 1000


def test_cached_db_sessions_fall_back_to_the_database(db, settings, redis_server):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.CACHES = {"default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": redis_server.url(4)}}
    session = SessionStore()
    session["rep"] = 7
    session.save()
    redis_server.stop()

    assert SessionStore(session.session_key).load() == {"rep": 7}
