"""HTTP to WeChat's server APIs: one pooled session, one timeout, one way of failing.

Every transport problem (timeout, refused connection, HTTP status other than 200, a body that is
not a JSON object) becomes `core.errors.ExternalServiceError`; what to make of an `errcode` in
a well-formed answer is up to the caller, because it differs per API.

Credentials travel in query strings on some WeChat APIs (`secret` for code2Session,
`access_token` for everything else), so nothing here logs a URL or a requests exception text,
and urllib3's own debug line is redacted (see `_RedactCredentials`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

import requests
from django.conf import settings

from core.errors import ExternalServiceError

logger = logging.getLogger("wechat")

_ERRMSG_LOG_LIMIT = 300


def _new_session() -> requests.Session:
    # HTTPS_PROXY from the environment stays honoured: a fixed egress proxy is the usual way to
    # satisfy WeChat's IP whitelist for access_token.
    return requests.Session()


# Module-level so keep-alive connections to api.weixin.qq.com are reused across requests.
_session = _new_session()


def _reset_session_after_fork() -> None:
    # A pooled socket opened before a fork (prefork Celery, gunicorn --preload) would be shared by
    # parent and child and their responses interleaved; each process gets its own pool.
    global _session
    _session = _new_session()


os.register_at_fork(after_in_child=_reset_session_after_fork)


class _RedactCredentials(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string included: hide the credentials."""

    _pattern = re.compile(r"((?:secret|access_token|js_code|code)=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._pattern.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactCredentials())


def external_error(*, api: str, reason: str, **details: Any) -> ExternalServiceError:
    """The error for "WeChat did not do it, try again later"; details are safe to show clients."""
    return ExternalServiceError(details={"api": api, "reason": reason, **details})


def errcode_of(data: dict) -> int:
    """WeChat's `errcode`: 0 (or absent) means success. A non-numeric one counts as a failure."""
    value = data.get("errcode", 0)
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def errmsg_of(data: dict) -> str:
    """WeChat's `errmsg`, bounded, for logs (never for users: it is English and technical)."""
    return str(data.get("errmsg", ""))[:_ERRMSG_LOG_LIMIT]


def errcode_error(*, api: str, data: dict, level: int = logging.WARNING) -> ExternalServiceError:
    """Log WeChat's `errmsg` (it carries the `rid` WeChat support asks for) and build the error."""
    errcode = errcode_of(data)
    logger.log(level, "WeChat %s failed: errcode=%s errmsg=%s", api, errcode, errmsg_of(data))
    return external_error(api=api, reason="errcode", errcode=errcode)


def request(
    method: str,
    path: str,
    *,
    api: str,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
) -> requests.Response:
    """Send one request to `settings.WECHAT_API_BASE + path`; only an HTTP 200 comes back.

    No automatic retries: a login code or a phone-number code is single use, so resending a
    request whose answer was lost would turn a success into "code been used".
    """
    url = settings.WECHAT_API_BASE.rstrip("/") + path
    kwargs: dict[str, Any] = {"params": params, "timeout": settings.WECHAT_HTTP_TIMEOUT, "allow_redirects": False}
    if json_body is not None:
        # UTF-8 as is rather than \u escapes: subscribe-message and similar bodies carry Chinese.
        kwargs["data"] = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
    try:
        response = _session.request(method, url, **kwargs)
    except requests.Timeout:
        logger.warning("WeChat %s timed out after %ss", api, settings.WECHAT_HTTP_TIMEOUT)
        raise external_error(api=api, reason="timeout") from None
    except requests.RequestException as exc:
        # The exception text holds the URL with its query string (the secret): log the type only,
        # and `from None` keeps it out of any traceback a caller might log.
        logger.warning("WeChat %s unreachable: %s", api, type(exc).__name__)
        raise external_error(api=api, reason="connection") from None
    if response.status_code != 200:
        logger.warning("WeChat %s answered HTTP %s", api, response.status_code)
        raise external_error(api=api, reason="http_status", http_status=response.status_code)
    return response


def parse_json(response: requests.Response, *, api: str) -> dict:
    """The body as a JSON object, whatever Content-Type says (WeChat is not consistent about it)."""
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        logger.warning("WeChat %s answered a body that is not JSON (%s bytes)", api, len(response.content))
        raise external_error(api=api, reason="bad_response") from None
    if not isinstance(data, dict):
        logger.warning("WeChat %s answered JSON that is not an object", api)
        raise external_error(api=api, reason="bad_response")
    return data


def request_json(
    method: str,
    path: str,
    *,
    api: str,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
) -> dict:
    """`request` + `parse_json`: the answer of a JSON API, `errcode` still to be checked."""
    return parse_json(request(method, path, api=api, params=params, json_body=json_body), api=api)
