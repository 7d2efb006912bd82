"""Every operation of /api/schema/, fuzzed by schemathesis through the WSGI app: no input gives a
server error, and every answer is what the schema says (status documented, content type, body).

The schema is the one the mini-program team generates its client from, so an answer the schema
does not describe is a bug here as much as a 500 is. Generation is derandomised (a fixed seed, no
example database) and bounded, so the run is the same on every machine.
"""

import json
import socket
from decimal import Decimal

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from aftersales.models import AfterSalesRequest
from aftersales.services import request_create
from complaints.services import complaint_file
from catalog.services import cart_line_set
from customers.tokens import visitor_token_make
from orders.models import Order, OrderLine, Payment
from orders.services import DeliveryInput, order_place
from reps.feed import feed_token_make
from tests.aftersales.conftest import jpeg_bytes, make_delivered_order
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, product_with_stock
from wechat.backends import get_backend

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 12
SEED = 20261206

app = get_wsgi_application()
config = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
        # The test sends real credentials (below); generated ones would only ever be refused.
        "with-security-parameters": False,
    },
})
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, config=config)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The status of every answer, per operation (the closing note quotes the totals).
CASES: dict[str, list[int]] = {}
# The operations that answered a request with their own method with a 2xx.
ACCEPTED: set[str] = set()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Nothing leaves the machine: only the local PostgreSQL and Redis may be reached."""
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"the API tried to reach {address} during the schemathesis run")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the database connection around each request (close_old_connections),
    which would end the test's transaction; Django's own test client unhooks it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(settings, tmp_path_factory):
    """A customer who has ordered through a rep, with products in stock, a cart and an order."""
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    user = User.objects.create_user(username="rep-schemathesis", password="rep12345")
    rep = RepFactory(name="张三", user=user)
    customer = CustomerFactory(name="湘味小馆", phone="13800138000", rep=rep, acquired_by=rep,
                               latitude=Decimal("22.541234"), longitude=Decimal("114.061234"))
    buyer = VisitorFactory(customer=customer, phone=customer.phone)
    shrimp = product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="100")
    squid = product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", min_quantity="2", step_quantity="0.5",
                               on_hand="500")
    cart_line_set(visitor=buyer, product_id=shrimp.pk, quantity="3")
    order, _ = order_place(visitor=buyer, idempotency_key="schemathesis-0001", delivery=DeliveryInput(
        restaurant_name="湘味小馆", contact_name="王老板", address="深圳市福田区福华路 88 号",
        latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田"))
    cart_line_set(visitor=buyer, product_id=shrimp.pk, quantity="4")
    paid, _ = order_place(visitor=buyer, idempotency_key="schemathesis-0002", delivery=DeliveryInput(
        restaurant_name="湘味小馆", contact_name="王老板", address="深圳市福田区福华路 88 号",
        latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田"))
    # Paid just now: its cut-off is ahead, so its lines may be reduced (POST /orders/{id}/lines).
    Payment.objects.filter(order=paid).update(status=Payment.Status.SUCCEEDED, succeeded_at=timezone.now())
    Order.objects.filter(pk=paid.pk).update(status=Order.Status.PAID, paid_at=timezone.now())
    cart_line_set(visitor=buyer, product_id=squid.pk, quantity="4")

    claim = _delivered_order_with_a_request(buyer, customer)
    complaint = complaint_file(visitor=buyer, category="service", text="客服回复太慢")

    browser = Client()
    browser.force_login(user)
    csrf = _get_new_csrf_string()
    staff = Client()
    staff.force_login(User.objects.create_superuser(username="staff-schemathesis", password="staff12345"))
    task = _campaign_task(customer)
    return {
        "visitor_headers": {"Authorization": f"Visitor {visitor_token_make(buyer.pk)}"},
        "rep_headers": {"X-CSRFToken": csrf},
        "rep_cookies": {"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrf},
        "staff_cookies": {"sessionid": staff.cookies["sessionid"].value, "csrftoken": csrf},
        "feed_headers": {"X-Feed-Token": feed_token_make(rep)},
        "delivery": {"restaurant_name": "湘味小馆", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
                     "latitude": "22.541234", "longitude": "114.061234",
                     "lines": [{"product_id": squid.pk, "quantity": "6"}]},
        "phone": {"openid": buyer.openid, "phone": customer.phone},
        "known": {"order_id": str(order.pk), "product_id": squid.pk, "code": squid.code, "customer_id": customer.pk,
                  "request_id": claim["request_id"], "complaint_id": complaint.pk, "task_id": task.pk},
        "aftersales": claim,
        "paid": {"order_id": str(paid.pk), "product_id": shrimp.pk},
    }


def _campaign_task(customer):
    """A rep-task campaign sent to the rep's customer: its task, to mark sent."""
    from campaigns.models import Campaign, CampaignRecipient
    from crm.models import Segment

    campaign = Campaign.objects.create(name="接口测试活动", segment=Segment.objects.create(name="接口测试分群"),
                                       title="上新", text="新到冻虾", status=Campaign.Status.SENT, segment_count=1,
                                       send_requested_at=timezone.now(), sent_at=timezone.now())
    return CampaignRecipient.objects.create(campaign=campaign, customer=customer, rep=customer.rep,
                                            status=CampaignRecipient.Status.PENDING)


def _delivered_order_with_a_request(buyer, customer) -> dict:
    """A delivered order whose lines can be claimed, and a request on another waiting for photos."""
    free = make_delivered_order(customer=customer, visitor=buyer)
    waiting = make_delivered_order(customer=customer, visitor=buyer)
    request = request_create(customer_id=customer.pk, order_id=waiting.order.pk, reason="damaged",
                             lines=[{"line_id": waiting.shrimp_line.pk, "quantity": "1"}])
    AfterSalesRequest.objects.filter(pk=request.pk).update(status=AfterSalesRequest.Status.NEEDS_MORE_INFO)
    lines = [free.shrimp_line.pk, free.fish_line.pk, free.scallop_line.pk]
    return {"request_id": request.pk, "order_id": str(free.order.pk), "lines": lines}


def _aftersales_body(world, n):
    claim = world["aftersales"]
    line = claim["lines"][n % len(claim["lines"])]
    return {"order_id": claim["order_id"], "reason": "quality", "note": "",
            "lines": json.dumps([{"line_id": line, "quantity": "1"}])}


def _photos_body(world, n):
    return {"photos": [jpeg_bytes()]}


def _lines_body(world, n):
    """The quantity the paid order has now: a change that changes nothing, answered 200."""
    paid = world["paid"]
    quantity = OrderLine.objects.get(order_id=paid["order_id"], product_id=paid["product_id"]).quantity
    return {"lines": [{"product_id": paid["product_id"], "quantity": str(quantity)}]}


def _credentials(case, world) -> dict:
    path = case.operation.path
    if path == "/api/v1/rep/feed/poll":
        return {"headers": world["feed_headers"]}
    if path.startswith("/api/v1/campaigns/"):
        return {"headers": world["rep_headers"], "cookies": world["staff_cookies"]}
    if path.startswith("/api/v1/rep/"):
        return {"headers": world["rep_headers"], "cookies": world["rep_cookies"]}
    if path.startswith("/api/v1/"):
        return {"headers": world["visitor_headers"]}
    return {}


VALID_BODIES = {
    "POST /api/v1/auth/session": lambda world, n: {"code": get_backend().issue_login_code(f"oFUZZ{n:023d}")},
    "POST /api/v1/auth/phone": lambda world, n: {"code": get_backend().issue_phone_code(**world["phone"])},
    "POST /api/v1/cart/lines": lambda world, n: {"product": world["known"]["product_id"], "quantity": "2"},
    "POST /api/v1/orders": lambda world, n: {**world["delivery"], "idempotency_key": f"fuzz-order-{n:04d}"},
    "POST /api/v1/aftersales": _aftersales_body,
    "POST /api/v1/aftersales/{request_id}/photos": _photos_body,
    "POST /api/v1/orders/{order_id}/lines": _lines_body,
    "POST /api/v1/complaints": lambda world, n: {"category": "delivery", "text": "送货迟到",
                                                 "order_id": world["known"]["order_id"]},
    "POST /api/v1/messages/subscriptions": lambda world, n: {"result": {
        "errMsg": "requestSubscribeMessage:ok", django_settings.WECHAT_SUBSCRIBE_TEMPLATES["order_paid"]: "accept"}},
}
# Generated fields a valid body must not keep (a random coupon id is someone else's, or none).
INVALIDATING_FIELDS = {"POST /api/v1/orders": ("coupon_id",)}
# Operations whose known order is the paid one (the other known order waits for payment).
PAID_ORDER_OPERATIONS = {"POST /api/v1/orders/{order_id}/lines"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_every_input_as_documented(case, world):
    # Valid data names the objects that exist half of the time, so the happy paths run too (a
    # random id only ever reaches "not found").
    known_half = sum(map(len, CASES.values())) % 2 == 0
    if case.path_parameters and known_half:
        for name, value in world["known"].items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
        if case.operation.label in PAID_ORDER_OPERATIONS:
            case.path_parameters["order_id"] = world["paid"]["order_id"]
    # Likewise half of the bodies that must name something real (a WeChat code, a product, a place
    # in China) get it, so logins, phone binds, cart adds and orders succeed, not only get refused.
    valid = VALID_BODIES.get(case.operation.label)
    if valid and known_half and isinstance(case.body, dict):
        case.body = {**case.body, **valid(world, len(CASES.get(case.operation.label, [])))}
        for field in INVALIDATING_FIELDS.get(case.operation.label, ()):
            case.body.pop(field, None)
    response = case.call_and_validate(app=app, checks=CHECKS, **_credentials(case, world))
    CASES.setdefault(case.operation.label, []).append(response.status_code)
    if 200 <= response.status_code < 300 and case.method.upper() == case.operation.method.upper():
        ACCEPTED.add(case.operation.label)


# WeChat Pay's notifications and WeCom's callbacks are signed: fuzzed ones can only ever be refused.
NEVER_ACCEPTED = {"POST /payments/wechatpay/notify", "GET /wecom/callback", "POST /wecom/callback"}


def test_zz_every_operation_was_reached_and_answered_yes_at_least_once(capsys):
    """After the run above (pytest keeps the module's order): the credentials and data worked, so
    each operation's happy path was checked against the schema too, not only its refusals."""
    labels = {operation.ok().label for operation in schema.get_all_operations()}
    if set(CASES) != labels:
        pytest.skip("only part of the schemathesis run was selected")
    assert sorted(labels - NEVER_ACCEPTED - ACCEPTED) == []
    with capsys.disabled():  # the figures the closing note quotes
        print(f"\nschemathesis: {len(labels)} operations, {sum(map(len, CASES.values()))} cases, 0 failures")
