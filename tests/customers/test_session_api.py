"""POST /api/v1/auth/session (wx.login code → visitor token) and the visitor token on other APIs."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models.query import QuerySet
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Visitor
from customers.tokens import visitor_token_make
from wechat.backends.dev import DevBackend, new_dev_openid

SESSION = "/api/v1/auth/session"
CART = "/api/v1/cart"


@pytest.fixture(autouse=True)
def dev_backend(settings):
    settings.WECHAT_BACKEND = "dev"


def _code(openid: str | None = None) -> str:
    return DevBackend().issue_login_code(openid or new_dev_openid())


def _login(client: APIClient, code):
    return client.post(SESSION, {"code": code}, format="json")


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]  # a sentence for the user, not empty


# -- logging in ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_login_creates_the_visitor_and_answers_201(api_client):
    openid = new_dev_openid()

    response = _login(api_client, _code(openid))

    assert response.status_code == 201
    visitor = Visitor.objects.get()
    assert visitor.openid == openid
    assert visitor.last_seen_at is not None
    assert response.json() == {
        "token": response.json()["token"],
        "visitor": {"id": visitor.pk, "is_customer": False, "nickname": ""},
    }


@pytest.mark.django_db
def test_the_next_login_of_the_same_user_answers_200_with_the_same_visitor(api_client):
    openid = new_dev_openid()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        first = _login(api_client, _code(openid))
        traveller.shift(timedelta(hours=3))
        second = _login(api_client, _code(openid))

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["visitor"]["id"] == second.json()["visitor"]["id"]
    visitor = Visitor.objects.get()
    assert visitor.last_seen_at == start + timedelta(hours=3)


@pytest.mark.django_db
def test_the_token_opens_the_visitors_cart(api_client):
    token = _login(api_client, _code()).json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {token}")
    response = client.get(CART)

    assert response.status_code == 200


@pytest.mark.django_db
def test_the_session_key_never_reaches_the_client(api_client, monkeypatch):
    issued = []
    original = DevBackend.code_to_session

    def recording(self, code):
        session = original(self, code)
        issued.append(session.session_key)
        return session

    monkeypatch.setattr(DevBackend, "code_to_session", recording)

    response = _login(api_client, _code())

    assert response.status_code == 201
    [session_key] = issued
    assert session_key not in response.content.decode()
    assert "session_key" not in response.content.decode()


@pytest.mark.django_db
def test_an_expired_token_in_the_header_does_not_stop_a_fresh_login(api_client):
    # The mini program logs in again precisely because its token has expired.
    api_client.credentials(HTTP_AUTHORIZATION="Visitor 1:forged:token")

    response = _login(api_client, _code())

    assert response.status_code == 201


# -- refused logins -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code",
    [
        "not-a-code",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "代码",
        12345,  # DRF turns it into "12345": still not a code
    ],
)
def test_a_bad_code_is_refused_with_400_and_creates_nothing(api_client, code):
    response = _login(api_client, code)

    _assert_error(response, 400, "invalid_login_code")
    assert response.json()["error"]["message"] == "登录凭证无效或已过期，请重新进入小程序"
    assert Visitor.objects.count() == 0


@pytest.mark.django_db
def test_a_used_code_is_refused_and_creates_nothing_more(api_client):
    code = _code()
    assert _login(api_client, code).status_code == 201

    response = _login(APIClient(), code)

    _assert_error(response, 400, "invalid_login_code")
    assert Visitor.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [{}, {"code": ""}, {"code": "   "}, {"code": None}, {"code": ["a"]}, {"code": "a" * 513}, {"jscode": "x"}],
)
def test_a_missing_or_malformed_code_field_is_refused_with_400_and_creates_nothing(api_client, payload):
    response = api_client.post(SESSION, payload, format="json")

    _assert_error(response, 400, "invalid")
    assert "code" in response.json()["error"]["details"]
    assert Visitor.objects.count() == 0


@pytest.mark.django_db
def test_a_form_encoded_body_is_refused_with_415(api_client):
    response = api_client.post(SESSION, "code=abc", content_type="application/x-www-form-urlencoded")

    _assert_error(response, 415, "unsupported_media_type")
    assert Visitor.objects.count() == 0


@pytest.mark.django_db
def test_broken_json_is_refused_with_400(api_client):
    response = api_client.post(SESSION, '{"code": "abc"', content_type="application/json")

    _assert_error(response, 400, "parse_error")
    assert Visitor.objects.count() == 0


def test_get_is_not_allowed(api_client):
    assert api_client.get(SESSION).status_code == 405


# -- the token on other APIs ----------------------------------------------------------------------


@pytest.mark.django_db
def test_no_token_is_401_on_the_cart(api_client):
    _assert_error(api_client.get(CART), 401, "not_authenticated")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        "Visitor forged-token",
        "Visitor 1:1vXyZa:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # the shape of a real one
        "Visitor",  # no token
        "Visitor a b",  # too many parts
    ],
)
def test_a_forged_or_malformed_token_is_401_on_the_cart(visitor, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(CART)

    _assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Visitor"


@pytest.mark.django_db
def test_a_token_signed_for_something_else_is_401(visitor):
    from django.core import signing

    other_purpose = signing.TimestampSigner(salt="something.else").sign(str(visitor.pk))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {other_purpose}")

    _assert_error(client.get(CART), 401, "authentication_failed")


@pytest.mark.django_db
def test_an_expired_token_is_401_and_a_fresh_one_is_accepted(visitor, settings):
    client = APIClient()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
        traveller.shift(settings.VISITOR_TOKEN_MAX_AGE - timedelta(seconds=1))
        assert client.get(CART).status_code == 200

        traveller.shift(timedelta(seconds=2))
        _assert_error(client.get(CART), 401, "authentication_failed")


@pytest.mark.django_db
def test_a_genuine_token_for_a_visitor_that_no_longer_exists_is_401(visitor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk + 1000)}")

    _assert_error(client.get(CART), 401, "authentication_failed")


# -- two phones racing through the first login ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_logins_of_one_user_make_exactly_one_visitor(monkeypatch):
    openid = new_dev_openid()
    codes = [_code(openid), _code(openid)]
    # Hold both requests at the INSERT until both have looked for the visitor and found none,
    # so the race on the unique OpenID really happens instead of depending on thread timing.
    both_looked = threading.Barrier(2, timeout=5)
    original_create = QuerySet.create

    def create_after_both_looked(self, **kwargs):
        if self.model is Visitor:
            try:
                both_looked.wait()
            except threading.BrokenBarrierError:
                pass  # an implementation that never races here: nothing to line up
        return original_create(self, **kwargs)

    monkeypatch.setattr(QuerySet, "create", create_after_both_looked)
    responses, errors = [None, None], []

    def phone(i):
        try:
            responses[i] = _login(APIClient(), codes[i])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert sorted(r.status_code for r in responses) == [200, 201]
    visitor = Visitor.objects.get()
    assert visitor.openid == openid
    assert {r.json()["visitor"]["id"] for r in responses} == {visitor.pk}
    for response in responses:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {response.json()['token']}")
        assert client.get(CART).status_code == 200
