"""POST /api/v1/auth/session and /api/v1/auth/phone are rate-limited per visitor and per address."""

import pytest
from rest_framework.test import APIClient

from core.throttling import parse_rate
from customers.models import Customer, Visitor
from customers.tokens import visitor_token_make
from reps.models import EntryEvent
from tests.concurrency import run_in_threads
from tests.factories import VisitorFactory
from wechat.backends import get_backend
from wechat.backends.dev import DevBackend, new_dev_openid

pytestmark = pytest.mark.django_db

SESSION = "/api/v1/auth/session"
PHONE = "/api/v1/auth/phone"


@pytest.fixture
def limits(settings):
    settings.WECHAT_BACKEND = "dev"
    settings.API_RATE_LIMITS = {"auth_session_ip": "3/hour", "auth_phone_ip": "3/hour", "auth_phone_visitor": "2/hour"}
    return settings.API_RATE_LIMITS


def client_for(visitor=None, address="10.0.0.1"):
    client = APIClient(REMOTE_ADDR=address)
    if visitor is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def session(client):
    code = DevBackend().issue_login_code(new_dev_openid())
    return client.post(SESSION, {"code": code, "scene": "r=7F3K", "launch_scene": 1047}, format="json")


def phone(client, visitor, number="13912345678"):
    code = get_backend().issue_phone_code(openid=visitor.openid, phone=number)
    return client.post(PHONE, {"code": code, "nickname": "王老板"}, format="json")


def assert_throttled(response):
    assert response.status_code == 429
    assert response.json() == {"error": {"code": "throttled", "message": "请求过于频繁，请稍后再试", "details": {}}}
    assert int(response["Retry-After"]) > 0


def test_session_creation_is_limited_per_address_and_a_refusal_writes_nothing(limits):
    client = client_for(address="10.0.0.1")
    assert [session(client).status_code for _ in range(3)] == [201, 201, 201]
    visitors, entries = Visitor.objects.count(), EntryEvent.objects.count()

    assert_throttled(session(client))

    assert (Visitor.objects.count(), EntryEvent.objects.count()) == (visitors, entries)
    assert session(client_for(address="10.0.0.2")).status_code == 201  # another address is not held back


def test_a_forged_forwarded_for_does_not_reset_the_count(limits):
    for index in range(3):
        session(APIClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{index}"))
    assert_throttled(session(APIClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.99")))


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(limits, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(3):
        session(APIClient(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="203.0.113.7"))
    assert_throttled(session(APIClient(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="203.0.113.7")))
    assert session(APIClient(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="203.0.113.8")).status_code == 201


def test_phone_authorisation_is_limited_per_visitor_and_a_refusal_binds_nothing(limits):
    visitor = VisitorFactory()
    assert phone(client_for(visitor, "10.0.0.1"), visitor, "13900000001").status_code == 200
    assert phone(client_for(visitor, "10.0.0.2"), visitor, "13900000002").status_code == 200
    customers = list(Customer.objects.values_list("pk", "phone"))
    before = Visitor.objects.values("customer_id", "phone", "nickname").get(pk=visitor.pk)

    assert_throttled(phone(client_for(visitor, "10.0.0.3"), visitor, "13900000003"))  # a new address too

    assert list(Customer.objects.values_list("pk", "phone")) == customers
    assert Visitor.objects.values("customer_id", "phone", "nickname").get(pk=visitor.pk) == before
    other = VisitorFactory()
    assert phone(client_for(other, "10.0.0.3"), other, "13900000003").status_code == 200


def test_phone_authorisation_is_limited_per_address(limits):
    visitors = [VisitorFactory() for _ in range(4)]
    for index, visitor in enumerate(visitors[:3]):
        assert phone(client_for(visitor, "10.0.0.1"), visitor, f"1390000000{index}").status_code == 200

    assert_throttled(phone(client_for(visitors[3], "10.0.0.1"), visitors[3], "13900000009"))

    assert not Customer.objects.filter(phone="13900000009").exists()
    assert Visitor.objects.get(pk=visitors[3].pk).customer_id is None
    assert phone(client_for(visitors[3], "10.0.0.2"), visitors[3], "13900000009").status_code == 200


def test_the_429_is_in_the_schema_of_both_operations(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (SESSION, PHONE):
        response = schema["paths"][path]["post"]["responses"]["429"]
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_burst_at_the_same_instant_lets_exactly_the_limit_through(settings):
    settings.WECHAT_BACKEND = "dev"
    settings.API_RATE_LIMITS = {"auth_session_ip": "5/hour", "auth_phone_ip": "30/minute", "auth_phone_visitor": "10/hour"}
    codes = [DevBackend().issue_login_code(new_dev_openid()) for _ in range(12)]

    def login(index):
        return APIClient(REMOTE_ADDR="10.0.0.1").post(SESSION, {"code": codes[index]}, format="json").status_code

    statuses = run_in_threads(12, login)

    assert sorted(statuses) == [201] * 5 + [429] * 7
    assert Visitor.objects.count() == 5


@pytest.mark.parametrize("rate, parsed", [("10/hour", (10, 3600)), ("60/minute", (60, 60)), ("5/s", (5, 1)),
                                          ("100/day", (100, 86400))])
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed
