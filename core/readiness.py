"""What /readyz asks before a load balancer sends a process traffic: the database answers and has
every migration this code knows, the cache (Redis) answers, and the Celery broker accepts a
connection. Each check returns None when it passes, or a short reason (the error's class: the
answer is public, so no host names or passwords from the message)."""

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from kombu import Connection

BROKER_CONNECT_TIMEOUT = 2.0  # seconds: a probe must answer well within the balancer's own timeout


def _failure(error: Exception) -> str:
    return f"failed: {type(error).__name__}"


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure to answer means not ready
        return _failure(error)
    return None


def check_migrations() -> str | None:
    try:
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return _failure(error)
    if unapplied:
        return f"failed: {len(unapplied)} unapplied migration(s)"
    return None


def check_cache() -> str | None:
    try:
        if hasattr(cache, "ping"):  # Redis (core/cache.py) hides its outages from callers, not from us
            cache.ping()
        cache.set("readyz", "1", timeout=10)
        if cache.get("readyz") != "1":
            return "failed: the value written was not read back"
    except Exception as error:
        return _failure(error)
    return None


def check_broker() -> str | None:
    broker = Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_CONNECT_TIMEOUT,
                        transport_options=dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})))
    try:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_CONNECT_TIMEOUT)
    except Exception as error:
        return _failure(error)
    finally:
        broker.release()
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "cache": check_cache,
    "broker": check_broker,
}


def readiness() -> dict[str, str]:
    """Every check's outcome, "ok" or why not; migrations are only asked of a database that answers."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results["database"] != "ok":
            results[name] = "skipped: the database does not answer"
            continue
        results[name] = check() or "ok"
    return results
