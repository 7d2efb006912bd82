"""The `dev` backend: a browser plays a phone, its signed cookie is its WeChat user."""

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client, RequestFactory
from django.utils import timezone

from customers.models import Visitor
from wechat.backends import get_backend
from wechat.backends.dev import DevBackend, new_dev_openid
from wechat.errors import InvalidLoginCode
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

DEV_LOGIN = "/wechat-dev/login"
SESSION = "/api/v1/auth/session"


@pytest.fixture(autouse=True)
def dev_backend(settings):
    settings.WECHAT_BACKEND = "dev"


def _wx_login(browser: Client) -> str:
    response = browser.post(DEV_LOGIN)
    assert response.status_code == 200
    return response.json()["code"]


def _device_openid(browser: Client) -> str:
    """The OpenID in the browser's signed device cookie, read the way the view reads it."""
    request = RequestFactory().get("/")
    request.COOKIES[DEVICE_COOKIE] = browser.cookies[DEVICE_COOKIE].value
    return request.get_signed_cookie(DEVICE_COOKIE, salt=DEVICE_COOKIE_SALT)


def _session(browser: Client, code: str):
    return browser.post(SESSION, {"code": code}, content_type="application/json")


# -- the backend --------------------------------------------------------------------------------


def test_new_dev_openids_look_like_wechat_openids_and_differ():
    first, second = new_dev_openid(), new_dev_openid()

    assert len(first) == 28 and first.startswith("o")
    assert first != second


def test_a_code_gives_the_openid_it_was_issued_for_once():
    backend = DevBackend()
    openid = new_dev_openid()
    code = backend.issue_login_code(openid)

    session = backend.code_to_session(code)

    assert session.openid == openid
    assert session.unionid == ""
    assert len(session.session_key) >= 16


def test_a_code_is_refused_the_second_time():
    backend = DevBackend()
    code = backend.issue_login_code(new_dev_openid())
    backend.code_to_session(code)

    with pytest.raises(InvalidLoginCode):
        backend.code_to_session(code)


def test_two_codes_for_the_same_user_each_work_once():
    backend = DevBackend()
    openid = new_dev_openid()
    first, second = backend.issue_login_code(openid), backend.issue_login_code(openid)

    assert first != second
    assert backend.code_to_session(first).openid == backend.code_to_session(second).openid == openid


def test_a_code_works_until_five_minutes_and_is_refused_after():
    backend = DevBackend()
    openid = new_dev_openid()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        fresh, stale = backend.issue_login_code(openid), backend.issue_login_code(openid)
        traveller.shift(timedelta(minutes=4, seconds=59))
        assert backend.code_to_session(fresh).openid == openid

        traveller.shift(timedelta(seconds=2))  # 5:01 after issue
        with pytest.raises(InvalidLoginCode):
            backend.code_to_session(stale)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda code: code[:-1] + ("A" if code[-1] != "A" else "B"),  # signature changed
        lambda code: code.replace(code.split(":")[0], code.split(":")[0][:-2] + "xx", 1),  # payload changed
        lambda code: code.split(":")[0],  # signature removed
        lambda code: "",
        lambda code: code + " ",
    ],
)
def test_a_tampered_code_is_refused(tamper):
    backend = DevBackend()
    code = backend.issue_login_code(new_dev_openid())

    with pytest.raises(InvalidLoginCode):
        backend.code_to_session(tamper(code))

    assert backend.code_to_session(code)  # the genuine one was not spent by the forgery


def test_a_code_signed_for_another_purpose_is_refused():
    forged = signing.dumps({"o": new_dev_openid(), "n": "00"}, compress=True)  # default salt

    with pytest.raises(InvalidLoginCode):
        DevBackend().code_to_session(forged)


# -- the browser as a phone ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_browser_is_the_same_visitor_on_every_login():
    browser = Client()

    first = _session(browser, _wx_login(browser))
    second = _session(browser, _wx_login(browser))

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["visitor"]["id"] == second.json()["visitor"]["id"]
    visitor = Visitor.objects.get()
    assert visitor.openid == _device_openid(browser)


@pytest.mark.django_db
def test_the_device_cookie_holds_the_openid_signed_and_http_only():
    browser = Client()
    code = _wx_login(browser)

    cookie = browser.cookies[DEVICE_COOKIE]
    session = DevBackend().code_to_session(code)

    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert _device_openid(browser) == session.openid
    assert cookie.value.startswith(session.openid + ":")  # signed: the value, then the signature
    assert int(cookie["max-age"]) >= 365 * 24 * 3600


@pytest.mark.django_db
def test_a_new_browser_is_a_new_visitor():
    phone_a, phone_b = Client(), Client()

    a = _session(phone_a, _wx_login(phone_a))
    b = _session(phone_b, _wx_login(phone_b))

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["visitor"]["id"] != b.json()["visitor"]["id"]
    assert Visitor.objects.count() == 2


@pytest.mark.django_db
def test_a_forged_device_cookie_is_ignored_and_gets_a_fresh_identity():
    victim = Visitor.objects.create(openid="oVICTIM00000000000000000000a")
    attacker = Client()
    attacker.cookies[DEVICE_COOKIE] = victim.openid  # unsigned: someone else's openid

    response = _session(attacker, _wx_login(attacker))

    assert response.status_code == 201
    assert response.json()["visitor"]["id"] != victim.pk
    assert Visitor.objects.count() == 2


@pytest.mark.django_db
def test_a_login_code_replayed_through_the_api_is_refused_and_creates_nothing():
    browser = Client()
    code = _wx_login(browser)
    assert _session(browser, code).status_code == 201

    replay = _session(Client(), code)

    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_login_code"
    assert Visitor.objects.count() == 1


def test_dev_login_is_post_only(client):
    assert client.get(DEV_LOGIN).status_code == 405


def test_dev_login_is_not_found_with_the_real_backend(settings, client):
    settings.WECHAT_BACKEND = "real"
    settings.WECHAT_SECRET = ""  # constructing the real backend would fail: the view must not try

    response = client.post(DEV_LOGIN)

    assert response.status_code == 404
    assert DEVICE_COOKIE not in response.cookies


def test_get_backend_follows_the_setting(settings):
    assert isinstance(get_backend(), DevBackend)
