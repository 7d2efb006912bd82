"""The `real` backend and access_token over real HTTP, against the fake WeChat on loopback."""

import logging
import socket
import threading
from datetime import datetime, timezone

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from core.errors import ExternalServiceError
from customers.models import Visitor
from wechat import access_token
from wechat.access_token import get_access_token, invalidate_access_token
from wechat.backends import WxSession, get_backend
from wechat.backends.real import RealBackend
from wechat.errors import InvalidLoginCode, WeChatRateLimited, WeChatRiskyUser
from wechat.token_cache import SharedToken

from .fake_server import FAKE_APPID, FAKE_SECRET

CODE2SESSION = "/sns/jscode2session"
STABLE_TOKEN = "/cgi-bin/stable_token"


def _client_log(caplog) -> str:
    """What this process logged, minus the fake server's own request log (WeChat's side)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- construction ---------------------------------------------------------------------------------


def test_real_backend_refuses_to_construct_without_secret(settings):
    settings.WECHAT_SECRET = ""

    with pytest.raises(ImproperlyConfigured, match="WECHAT_SECRET"):
        RealBackend()


def test_get_backend_returns_the_real_backend_when_configured(wechat_real):
    backend = get_backend()

    assert isinstance(backend, RealBackend)
    assert backend is get_backend()  # one per process


# -- code2Session ---------------------------------------------------------------------------------


def test_code_to_session_exchanges_the_code_with_the_documented_parameters(wechat_real):
    code = wechat_real.issue_login_code(openid="oFAKE0000000000000000000001a")
    user = wechat_real.user_of(code)

    session = RealBackend().code_to_session(code)

    assert session == WxSession(openid="oFAKE0000000000000000000001a", session_key=user.session_key, unionid="")
    [call] = wechat_real.calls(CODE2SESSION)
    assert call.method == "GET"
    assert call.args == {
        "appid": FAKE_APPID,
        "secret": FAKE_SECRET,
        "js_code": code,
        "grant_type": "authorization_code",
    }


def test_code_to_session_passes_the_unionid_on(wechat_real):
    code = wechat_real.issue_login_code(unionid="oUNION000000000000000000001")

    session = RealBackend().code_to_session(code)

    assert session.unionid == "oUNION000000000000000000001"
    assert session.openid == wechat_real.user_of(code).openid


def test_a_code_used_twice_is_refused_by_wechat_and_mapped_to_invalid_login_code(wechat_real):
    code = wechat_real.issue_login_code()
    backend = RealBackend()
    backend.code_to_session(code)

    with pytest.raises(InvalidLoginCode) as exc:
        backend.code_to_session(code)

    assert exc.value.details == {"errcode": 40163}
    assert len(wechat_real.calls(CODE2SESSION)) == 2


def test_an_unknown_code_is_mapped_to_invalid_login_code(wechat_real):
    with pytest.raises(InvalidLoginCode) as exc:
        RealBackend().code_to_session("0a1b2c3d4e5f60718293a4b5c6d7e8f9")

    assert exc.value.details == {"errcode": 40029}
    assert exc.value.status_code == 400


@pytest.mark.parametrize(
    ("errcode", "error_class", "status", "code"),
    [
        (40029, InvalidLoginCode, 400, "invalid_login_code"),
        (40163, InvalidLoginCode, 400, "invalid_login_code"),
        (45011, WeChatRateLimited, 429, "wechat_rate_limited"),
        (40226, WeChatRiskyUser, 403, "wechat_risky_user"),
    ],
)
def test_user_level_errcodes_map_to_their_own_errors(wechat_real, errcode, error_class, status, code):
    wechat_real.respond_once(CODE2SESSION, json={"errcode": errcode, "errmsg": f"fake {errcode}, rid: r1"})

    with pytest.raises(error_class) as exc:
        RealBackend().code_to_session(wechat_real.issue_login_code())

    assert type(exc.value) is error_class
    assert (exc.value.status_code, exc.value.code) == (status, code)
    assert exc.value.details == {"errcode": errcode}


@pytest.mark.parametrize("errcode", [-1, 40013, 40125, 41008, 99999, "oops"])
def test_other_errcodes_are_an_external_service_error(wechat_real, errcode, caplog):
    caplog.set_level(logging.INFO, logger="wechat")
    wechat_real.respond_once(CODE2SESSION, json={"errcode": errcode, "errmsg": "system error, rid: r-42"})

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session(wechat_real.issue_login_code())

    assert type(exc.value) is ExternalServiceError
    assert exc.value.status_code == 502
    assert exc.value.message == "微信服务暂时不可用，请稍后再试"
    expected_errcode = -1 if errcode == "oops" else errcode
    assert exc.value.details == {"api": "jscode2session", "reason": "errcode", "errcode": expected_errcode}
    assert "system error, rid: r-42" in caplog.text  # the errmsg is logged for support


def test_a_wrong_secret_is_an_external_service_error_not_the_users_fault(wechat_real, settings):
    settings.WECHAT_SECRET = "not-the-secret"

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session(wechat_real.issue_login_code())

    assert exc.value.details == {"api": "jscode2session", "reason": "errcode", "errcode": 40125}


@pytest.mark.parametrize("status", [500, 502, 503, 404])
def test_an_http_error_status_is_an_external_service_error(wechat_real, status):
    wechat_real.respond_once(CODE2SESSION, status=status, body="<html>Server Error</html>", content_type="text/html")

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session(wechat_real.issue_login_code())

    assert exc.value.details == {"api": "jscode2session", "reason": "http_status", "http_status": status}


@pytest.mark.parametrize(
    "body",
    [
        "<html>not json</html>",
        '{"openid": "oX", "session_key"',  # cut off
        '["a", "list"]',
        "",
    ],
)
def test_a_body_that_is_not_a_json_object_is_an_external_service_error(wechat_real, body):
    wechat_real.respond_once(CODE2SESSION, body=body, content_type="text/plain")

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session(wechat_real.issue_login_code())

    assert exc.value.details == {"api": "jscode2session", "reason": "bad_response"}


@pytest.mark.parametrize(
    "answer",
    [
        {"session_key": "k"},  # no openid
        {"openid": "oX"},  # no session_key
        {"openid": "", "session_key": "k"},
        {"openid": 12345, "session_key": "k"},
        {"openid": "o" * 65, "session_key": "k"},  # longer than Visitor.openid holds
    ],
)
def test_a_success_without_a_usable_identity_is_an_external_service_error(wechat_real, answer):
    wechat_real.respond_once(CODE2SESSION, json=answer)

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session(wechat_real.issue_login_code())

    assert exc.value.details == {"api": "jscode2session", "reason": "bad_response"}


def test_a_slow_wechat_times_out_as_an_external_service_error(wechat_real, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.2
    code = wechat_real.issue_login_code()
    # The fake answers successfully, just too late: only the timeout can make this fail.
    wechat_real.respond_once(CODE2SESSION, delay=1.0)

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session(code)

    assert exc.value.details == {"api": "jscode2session", "reason": "timeout"}


def test_an_unreachable_wechat_is_an_external_service_error_without_the_secret_in_it(settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.WECHAT_API_BASE = f"http://127.0.0.1:{_closed_port()}"
    settings.WECHAT_SECRET = "s3cret-value-never-logged"

    with pytest.raises(ExternalServiceError) as exc:
        RealBackend().code_to_session("0a1b2c3d4e5f60718293a4b5c6d7e8f9")

    assert exc.value.details == {"api": "jscode2session", "reason": "connection"}
    assert exc.value.__cause__ is None and exc.value.__suppress_context__  # no URL in a chained traceback
    assert "s3cret-value-never-logged" not in caplog.text
    assert "s3cret-value-never-logged" not in str(exc.value.as_dict())


@pytest.mark.parametrize(
    "code",
    ["", "a" * 513, "登录码", "abc def", "abc\n", "abc\x00", None, 12345],
)
def test_malformed_codes_are_refused_without_calling_wechat(wechat_real, code):
    with pytest.raises(InvalidLoginCode):
        RealBackend().code_to_session(code)

    assert wechat_real.calls() == []


def test_a_code_of_exactly_512_visible_characters_is_sent(wechat_real):
    with pytest.raises(InvalidLoginCode):  # unknown to the fake: 40029
        RealBackend().code_to_session("!" + "a" * 510 + "~")

    assert len(wechat_real.calls(CODE2SESSION)) == 1


def test_neither_secret_nor_session_key_is_logged_even_at_debug(wechat_real, caplog):
    caplog.set_level(logging.DEBUG)
    code = wechat_real.issue_login_code(session_key="SESSIONKEY-must-stay-on-server")
    backend = RealBackend()

    session = backend.code_to_session(code)
    with pytest.raises(InvalidLoginCode):
        backend.code_to_session(code)

    assert session.session_key == "SESSIONKEY-must-stay-on-server"
    assert "SESSIONKEY-must-stay-on-server" not in repr(session)
    log = _client_log(caplog)
    assert "GET /sns/jscode2session?appid=" in log  # urllib3's request line was logged, redacted
    assert FAKE_SECRET not in log
    assert "SESSIONKEY-must-stay-on-server" not in log
    assert code not in log


# -- end to end: the session API with WECHAT_BACKEND=real -------------------------------------------


@pytest.mark.django_db
def test_session_api_with_the_real_backend_creates_the_visitor_wechat_names(wechat_real, api_client):
    code = wechat_real.issue_login_code(
        openid="oE2E00000000000000000000001x", unionid="oUNIONE2E0000000000000000001", session_key="E2E-SESSION-KEY"
    )

    response = api_client.post("/api/v1/auth/session", {"code": code}, format="json")

    assert response.status_code == 201
    visitor = Visitor.objects.get()
    assert (visitor.openid, visitor.unionid) == ("oE2E00000000000000000000001x", "oUNIONE2E0000000000000000001")
    assert response.json()["visitor"] == {"id": visitor.pk, "is_customer": False, "nickname": ""}
    assert "E2E-SESSION-KEY" not in response.content.decode()
    api_client.credentials(HTTP_AUTHORIZATION=f"Visitor {response.json()['token']}")
    assert api_client.get("/api/v1/cart").status_code == 200

    again = api_client.post(
        "/api/v1/auth/session", {"code": wechat_real.issue_login_code(openid="oE2E00000000000000000000001x")},
        format="json",
    )
    assert again.status_code == 200
    assert again.json()["visitor"]["id"] == visitor.pk
    assert Visitor.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scripted", "status", "error_code"),
    [
        ({"json": {"errcode": 40029, "errmsg": "invalid code"}}, 400, "invalid_login_code"),
        ({"json": {"errcode": 45011, "errmsg": "minute-limit"}}, 429, "wechat_rate_limited"),
        ({"json": {"errcode": 40226, "errmsg": "risky"}}, 403, "wechat_risky_user"),
        ({"json": {"errcode": -1, "errmsg": "system busy"}}, 502, "external_service"),
        ({"status": 500, "body": "boom"}, 502, "external_service"),
    ],
)
def test_session_api_with_the_real_backend_reports_wechat_failures(wechat_real, api_client, scripted, status, error_code):
    wechat_real.respond_once(CODE2SESSION, **scripted)

    response = api_client.post("/api/v1/auth/session", {"code": wechat_real.issue_login_code()}, format="json")

    assert response.status_code == status
    assert response.json()["error"]["code"] == error_code
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert Visitor.objects.count() == 0


# -- access_token ---------------------------------------------------------------------------------


def test_get_access_token_fetches_a_stable_token_once_and_then_serves_it_from_the_cache(wechat_real):
    first = get_access_token()
    second = get_access_token()

    assert first == second == wechat_real.current_access_token()
    [call] = wechat_real.calls(STABLE_TOKEN)
    assert call.method == "POST"
    assert call.json == {
        "grant_type": "client_credential",
        "appid": FAKE_APPID,
        "secret": FAKE_SECRET,
        "force_refresh": False,
    }
    assert call.args == {}  # the secret is in the body, never in the URL


def test_the_cached_token_is_used_until_five_minutes_before_it_expires(wechat_real):
    with time_machine.travel(datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc), tick=False) as traveller:
        first = get_access_token()
        traveller.shift(7200 - 300 - 1)
        assert get_access_token() == first
        assert len(wechat_real.calls(STABLE_TOKEN)) == 1

        traveller.shift(2)
        renewed = get_access_token()

    assert renewed != first
    assert len(wechat_real.calls(STABLE_TOKEN)) == 2


def test_concurrent_callers_fetch_the_token_once(wechat_real):
    wechat_real.delays[STABLE_TOKEN] = 0.3  # long enough for every thread to find the lock taken
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=30)
            results.append(get_access_token())
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)

    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1
    assert len(wechat_real.calls(STABLE_TOKEN)) == 1
    assert cache.get(access_token.lock_key()) is None


def test_a_stuck_lock_holder_does_not_block_waiters_forever(wechat_real, monkeypatch):
    # The waiter gives up on the lock after its lifetime; shorten that lifetime, not the HTTP
    # timeout: the waiter's own fetch must succeed however slow a busy machine makes the fake.
    monkeypatch.setattr(SharedToken, "lock_seconds", staticmethod(lambda: 1))
    cache.add(access_token.lock_key(), "a worker that died", timeout=60)

    token = get_access_token()

    assert token == wechat_real.current_access_token()
    assert len(wechat_real.calls(STABLE_TOKEN)) == 1
    assert cache.get(access_token.lock_key()) == "a worker that died"  # not ours to release


def test_a_waiter_takes_the_token_the_lock_holder_stored(wechat_real):
    cache.add(access_token.lock_key(), "another worker", timeout=60)
    stored = threading.Timer(
        0.2, lambda: cache.set(access_token.cache_key(), {"token": "TOKEN-FROM-PEER", "refresh_at": 4e9}, 60)
    )
    stored.start()

    token = get_access_token()
    stored.join()

    assert token == "TOKEN-FROM-PEER"
    assert wechat_real.calls(STABLE_TOKEN) == []


@pytest.mark.parametrize(
    ("scripted", "details"),
    [
        ({"json": {"errcode": 40164, "errmsg": "invalid ip 1.2.3.4, not in whitelist"}},
         {"api": "stable_token", "reason": "errcode", "errcode": 40164}),
        ({"json": {"errcode": 45009, "errmsg": "reach max api daily quota limit"}},
         {"api": "stable_token", "reason": "errcode", "errcode": 45009}),
        ({"status": 503, "body": ""}, {"api": "stable_token", "reason": "http_status", "http_status": 503}),
        ({"json": {"access_token": "", "expires_in": 7200}}, {"api": "stable_token", "reason": "bad_response"}),
        ({"json": {"access_token": "T", "expires_in": "7200"}}, {"api": "stable_token", "reason": "bad_response"}),
        ({"body": "not json"}, {"api": "stable_token", "reason": "bad_response"}),
    ],
)
def test_a_failed_token_fetch_caches_nothing_and_releases_the_lock(wechat_real, scripted, details):
    wechat_real.respond_once(STABLE_TOKEN, **scripted)

    with pytest.raises(ExternalServiceError) as exc:
        get_access_token()

    assert exc.value.details == details
    assert cache.get(access_token.cache_key()) is None
    assert cache.get(access_token.lock_key()) is None
    assert get_access_token() == wechat_real.current_access_token()  # the next call fetches afresh
    assert len(wechat_real.calls(STABLE_TOKEN)) == 2


def test_a_wrong_secret_is_logged_as_an_error_without_the_secret(wechat_real, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.WECHAT_SECRET = "wrong-secret-value"

    with pytest.raises(ExternalServiceError) as exc:
        get_access_token()

    assert exc.value.details["errcode"] == 40125
    assert [r.levelname for r in caplog.records if r.name == "wechat"] == ["ERROR"]
    assert "wrong-secret-value" not in _client_log(caplog)


def test_get_access_token_refuses_without_secret(settings):
    settings.WECHAT_SECRET = ""

    with pytest.raises(ImproperlyConfigured, match="WECHAT_SECRET"):
        get_access_token()


def test_invalidate_drops_the_refused_token_and_the_next_call_gets_a_new_one(wechat_real):
    old = get_access_token()
    wechat_real.revoke_access_tokens()  # e.g. an operator force-refreshed it after a leak

    invalidate_access_token(old)
    new = get_access_token()

    assert new != old
    assert new == wechat_real.current_access_token()
    assert len(wechat_real.calls(STABLE_TOKEN)) == 2


def test_invalidate_keeps_a_newer_token_another_worker_already_cached(wechat_real):
    current = get_access_token()

    invalidate_access_token("AN-OLDER-TOKEN")

    assert get_access_token() == current
    assert len(wechat_real.calls(STABLE_TOKEN)) == 1


def test_fake_server_refuses_api_calls_with_a_revoked_token(wechat_real):
    # The helper later APIs' fakes build on: it must tell valid, revoked and missing tokens apart.
    token = get_access_token()

    class _Req:
        def __init__(self, value):
            self.args = {"access_token": value} if value else {}

    assert wechat_real.check_access_token(_Req(token)) is None
    wechat_real.revoke_access_tokens()
    assert wechat_real.check_access_token(_Req(token))["errcode"] == 40001
    assert wechat_real.check_access_token(_Req(None))["errcode"] == 41001
