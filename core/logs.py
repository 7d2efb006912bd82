"""Structured logs and the request id (README "Running it for real" › Logs).

Every request gets an id: the caller's `X-Request-ID` when it is sane (1-64 of [A-Za-z0-9._-]),
else a new one. It is sent back in the response's `X-Request-ID`, put on every log record of the
request (RequestIdFilter, on the handler), and travels with every Celery task the request sends
(a message header, seafood_b2b/celery.py), so the task's log records carry it too. LOG_FORMAT=json
writes each record as one JSON object (JsonFormatter); plain otherwise.
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import datetime, timezone

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "request_id"  # the Celery message header that carries it
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_from(value: str | None) -> str:
    """The caller's id if it is safe to log and echo, else a fresh one."""
    if value and _SANE.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: the id covers everything the request logs and sends."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        # Not reset on the way out: Django logs a 4xx/5xx answer after the middleware returns.
        # request_finished clears it (below); the next request on this thread sets its own.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _request_id_clear(**kwargs) -> None:
    request_id_var.set(None)


request_finished.connect(_request_id_clear, dispatch_uid="core.logs.request_id_clear")


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or None, outside a request or task) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# -- Celery: the id travels in a message header and is current while the task runs -------------

def add_request_id_header(headers: dict | None = None, **kwargs) -> None:
    """before_task_publish: the publishing request's (or task's) id goes with the message."""
    request_id = request_id_var.get()
    if request_id and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


_task_tokens: dict[str, contextvars.Token] = {}


def task_request_id_set(task_id: str | None = None, task=None, **kwargs) -> None:
    """task_prerun: the id from the message is current while the task runs. A task run eagerly
    (no message) keeps the caller's id, which is already current in that thread."""
    request_id = getattr(task.request, TASK_HEADER, None) if task is not None else None
    if request_id and task_id:
        _task_tokens[task_id] = request_id_var.set(request_id_from(request_id))


def task_request_id_reset(task_id: str | None = None, **kwargs) -> None:
    """task_postrun: back to whatever was current before (nothing, in a worker)."""
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        request_id_var.reset(token)
