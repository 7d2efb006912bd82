"""The request id: echoed or made, on every log record of the request (as JSON with
LOG_FORMAT=json), and carried into the Celery tasks the request sends — run eagerly or by a real
worker through Redis."""

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.logs import JsonFormatter, RequestIdFilter, request_id_var
from seafood_b2b.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
task_logger = logging.getLogger("tests.request_id")


@celery_app.task(name="tests.core.log_with_request_id")
def log_with_request_id(text):
    task_logger.warning("task says %s", text)


@pytest.fixture
def records():
    """What the console handler would write: a handler with the same filter and formatter."""
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            captured.append(record)

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    # On the loggers themselves, not the root: an embedded Celery worker resets the root's handlers.
    loggers = [logging.getLogger(name) for name in ("django.request", task_logger.name)]
    # Their own level too: an embedded worker (here or in an earlier test) sets the root's to its loglevel.
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield lambda: [json.loads(handler.format(record)) for record in captured]
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.django_db
@pytest.mark.parametrize("sent, kept", [("req-01.A_b", True), ("a" * 64, True), ("a" * 65, False),
                                        ("has space", False), ("<script>", False), ("", False), (None, False)])
def test_the_response_carries_the_callers_id_if_sane_else_a_new_one(client, sent, kept):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = client.get("/healthz", **headers)

    if kept:
        assert response["X-Request-ID"] == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


@pytest.mark.django_db
def test_a_log_record_of_the_request_has_its_id(client, records):
    response = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="req-log-1")

    assert response.status_code == 404
    logged = [entry for entry in records() if entry["logger"] == "django.request"]
    assert logged and {entry["request_id"] for entry in logged} == {"req-log-1"}
    assert logged[0]["level"] == "WARNING" and "/api/v1/no-such-thing" in logged[0]["message"]
    assert request_id_var.get() is None  # cleared when the request finished


def test_log_format_json_writes_one_json_object_per_record():
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    script = ("import django, logging; django.setup(); from core.logs import request_id_var; "
              "request_id_var.set('req-json-1'); logging.getLogger('seafood').warning('冻虾 %s', 3)")
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
                            env={**env, "DJANGO_SETTINGS_MODULE": "seafood_b2b.settings", "LOG_FORMAT": "json"})

    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert {key: entry[key] for key in ("level", "logger", "message", "request_id")} == {
        "level": "WARNING", "logger": "seafood", "message": "冻虾 3", "request_id": "req-json-1"}


def test_a_task_run_eagerly_logs_the_id_of_the_request_that_sent_it(records):
    assert celery_app.conf.task_always_eager
    token = request_id_var.set("req-eager-1")
    try:
        log_with_request_id.delay("eager")
    finally:
        request_id_var.reset(token)

    logged = [entry for entry in records() if entry["logger"] == "tests.request_id"]
    assert [(entry["message"], entry["request_id"]) for entry in logged] == [("task says eager", "req-eager-1")]


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_task_through_the_real_broker_logs_the_id_of_the_request_that_sent_it(real_broker, records):
    from celery.contrib.testing.worker import start_worker

    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        token = request_id_var.set("req-broker-1")
        try:
            log_with_request_id.delay("through redis")
        finally:
            request_id_var.reset(token)
        log_with_request_id.delay("from nowhere")  # sent outside any request: no id
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len([e for e in records() if e["logger"] == "tests.request_id"]) < 2:
            time.sleep(0.1)

    logged = {entry["message"]: entry["request_id"] for entry in records() if entry["logger"] == "tests.request_id"}
    assert logged == {"task says through redis": "req-broker-1", "task says from nowhere": None}


@pytest.fixture
def real_broker():
    from tests.notifications.test_celery_worker import real_broker as fixture

    yield from fixture.__wrapped__()
