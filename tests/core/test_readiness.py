"""/readyz answers 200 only when the database (migrated), the cache and the Celery broker answer,
and otherwise 503 in the API's error shape naming each check; /healthz asks none of them."""

import socket
from unittest import mock

import pytest
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db

ALL_OK = {"database": "ok", "migrations": "ok", "cache": "ok", "broker": "ok"}


def _closed_port() -> int:
    """A port nothing listens on: bound by us a moment ago, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ready_when_everything_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "checks": ALL_OK}


def test_not_ready_when_the_cache_does_not_answer(client, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0"}}

    response = client.get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready" and "cache" in error["message"]
    assert error["details"] == {**ALL_OK, "cache": "failed: ConnectionError"}
    assert client.get("/healthz").status_code == 200


def test_not_ready_when_the_broker_does_not_answer(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    details = response.json()["error"]["details"]
    assert details["broker"].startswith("failed: ")
    assert {name: outcome for name, outcome in details.items() if name != "broker"} == {
        "database": "ok", "migrations": "ok", "cache": "ok"}


def test_not_ready_while_a_migration_is_unapplied(client):
    unapplied = [(mock.Mock(name="orders.0099_new"), False)]
    with mock.patch.object(MigrationExecutor, "migration_plan", return_value=unapplied):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["details"] == {**ALL_OK, "migrations": "failed: 1 unapplied migration(s)"}


def test_migrations_are_not_asked_of_a_database_that_does_not_answer(client):
    from django.db.utils import OperationalError

    with mock.patch.dict("core.readiness.CHECKS", {"database": lambda: f"failed: {OperationalError.__name__}"}):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["details"] == {
        **ALL_OK, "database": "failed: OperationalError", "migrations": "skipped: the database does not answer"}
