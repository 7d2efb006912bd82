"""WeCom (企业微信) server APIs on `settings.WECOM_API_BASE`: transport and access_token.

WeCom is a different service from the mini program's: its own credentials (corpid + the secret
of the app that holds the 客户联系 permission), its own token (`GET /cgi-bin/gettoken`), its own
host. The token is handled as `wechat.access_token` handles the mini program's: shared by every
process through Django's cache until 5 minutes before `expires_in`, fetched by one worker at a
time under a `cache.add` lock. WeCom's gettoken returns the same token to every caller while it
is valid, so a waiter whose lock holder is stuck may fetch alongside it without harm.

Transport problems and refusals become `ExternalServiceError` exactly as in `wechat.http`
(whose helpers are reused). The secret travels in gettoken's query string and the token in every
other one, so nothing here logs a URL or a requests exception text; `wechat.http` installs the
urllib3 log redaction, which also covers `corpsecret=`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import http
from .token_cache import SharedToken

logger = logging.getLogger("wechat")

TOKEN_API = "wecom.gettoken"
# WeCom's global codes: 40001 invalid secret, 40013 invalid corpid, 40091 secret invalid,
# 41002/41004 corpid/secret missing, 60020 server IP not in the app's trusted IPs.
_CONFIG_ERRCODES = {40001, 40013, 40091, 41002, 41004, 60020}
# A token an API refused: WeCom says 40014 (invalid) or 42001 (expired); 40001 is the mini
# program's "invalid credential" and costs nothing to treat alike.
TOKEN_ERRCODES = {40001, 40014, 42001}


def _new_session() -> requests.Session:
    return requests.Session()


# Its own pool (another host than wechat.http's); reset after fork for the same reason.
_session = _new_session()


def _reset_session_after_fork() -> None:
    global _session
    _session = _new_session()


os.register_at_fork(after_in_child=_reset_session_after_fork)


def request_json(method: str, path: str, *, api: str, params: dict[str, Any] | None = None,
                 json_body: Any = None) -> dict:
    """One request to `settings.WECOM_API_BASE + path`; the JSON object answered, errcode unchecked.

    No automatic retries, as in `wechat.http.request`.
    """
    url = settings.WECOM_API_BASE.rstrip("/") + path
    kwargs: dict[str, Any] = {"params": params, "timeout": settings.WECHAT_HTTP_TIMEOUT, "allow_redirects": False}
    if json_body is not None:
        kwargs["data"] = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
    try:
        response = _session.request(method, url, **kwargs)
    except requests.Timeout:
        logger.warning("WeCom %s timed out after %ss", api, settings.WECHAT_HTTP_TIMEOUT)
        raise http.external_error(api=api, reason="timeout") from None
    except requests.RequestException as exc:
        logger.warning("WeCom %s unreachable: %s", api, type(exc).__name__)
        raise http.external_error(api=api, reason="connection") from None
    if response.status_code != 200:
        logger.warning("WeCom %s answered HTTP %s", api, response.status_code)
        raise http.external_error(api=api, reason="http_status", http_status=response.status_code)
    return http.parse_json(response, api=api)


# -- access_token ------------------------------------------------------------------------------


def _credentials_id() -> str:
    # A corp has one token per app secret (the 客户联系 secret and a self-built app's differ),
    # so the key names both; a short digest, never the secret itself.
    digest = hashlib.sha256(settings.WECOM_SECRET.encode()).hexdigest()[:12]
    return f"{settings.WECOM_CORP_ID}:{digest}"


def cache_key() -> str:
    return f"wecom:access-token:{_credentials_id()}"


def lock_key() -> str:
    return f"wecom:access-token-lock:{_credentials_id()}"


def _fetch() -> dict:
    data = request_json(
        "GET",
        "/cgi-bin/gettoken",
        api=TOKEN_API,
        params={"corpid": settings.WECOM_CORP_ID, "corpsecret": settings.WECOM_SECRET},
    )
    errcode = http.errcode_of(data)
    if errcode:
        level = logging.ERROR if errcode in _CONFIG_ERRCODES else logging.WARNING
        raise http.errcode_error(api=TOKEN_API, data=data, level=level)
    return data


_token = SharedToken(label="WeCom", api=TOKEN_API, cache_key=lambda: cache_key(), lock_key=lambda: lock_key(),
                     fetch=lambda: _fetch())


def get_wecom_access_token() -> str:
    """A valid WeCom access_token, from the cache or fetched by one worker for all."""
    if not settings.WECOM_CORP_ID or not settings.WECOM_SECRET:
        raise ImproperlyConfigured(
            "WeCom APIs need WECOM_CORP_ID and WECOM_SECRET (企业微信管理后台 → 客户联系 → API 的 Secret)."
        )
    return _token.get()


def invalidate_wecom_access_token(token: str) -> None:
    """Forget `token` after an API refused it; a newer one cached by another worker stays."""
    _token.invalidate(token)


def request_with_token(path: str, *, api: str, json_body: Any = None, method: str = "POST",
                       params: dict[str, Any] | None = None) -> dict:
    """Call `path` with the WeCom token (POST `json_body`, or GET with `params`); a refused token
    is replaced and the call sent once more."""
    token = get_wecom_access_token()
    data = request_json(method, path, api=api, params={**(params or {}), "access_token": token}, json_body=json_body)
    if http.errcode_of(data) in TOKEN_ERRCODES:
        logger.info("WeCom %s refused the access_token (errcode=%s); retrying once", api, http.errcode_of(data))
        invalidate_wecom_access_token(token)
        token = get_wecom_access_token()
        data = request_json(method, path, api=api, params={**(params or {}), "access_token": token},
                            json_body=json_body)
    return data
