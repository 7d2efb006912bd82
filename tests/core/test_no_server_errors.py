"""No input gives a 500 (issue 12, item 2): every request below was a 500 on main.

Each one must now be a 4xx in the usual shape {"error": {"code", "message", "details"}} with a
Chinese message, and must change nothing stored. The cases, in order of the issue:

- a page number beyond any catalogue (`?page=99999999999999999999`);
- a NUL (or another control character) in `?q=`, in a product code, in `/t/<batch>/`, in the
  clerk's receiving lookup, in every text field of checkout, of phone authorisation, of the
  session and entry calls, of a rep's visit note and of the dev WeChat phone page, and in a
  plain form post (core.middleware / core.inputs.text_check, json_parse);
- quantities 1e26, 1e30, 1e400 and forty 9s (as text and as JSON numbers) on cart add, cart
  set and checkout lines (catalog.services.parse_quantity); latitude/longitude 1e30/-1e40 at
  checkout;
- JSON nested a thousand levels deep on every endpoint that takes a JSON body, the session,
  the checkout fast path, the dev WeChat pages, the (signed) payment notification and the JSON
  field of the after-sales form included;
- an impossible date in `?after=` on the rep feed and on the feed poll;
- a multipart body on the dev WeChat pages.

Three more live beside the code they exercise:
- a late payment notification for a cancelled order whose refund cannot be sent yet:
  tests/orders/test_payments.py::test_late_payment_is_acknowledged_when_the_refund_cannot_be_sent_yet;
- two simultaneous first adds of one product to a cart:
  tests/catalog/test_cart_concurrency.py::test_simultaneous_first_adds_of_one_product_merge;
- a NUL in the delivery proof or failure reason (a multipart form, checked by the service):
  tests/logistics/test_delivery.py::test_a_control_character_in_the_proof_or_the_reason_is_refused_and_changes_nothing.
"""

import json
import re
import time
import uuid

import pytest
from django.contrib.auth.models import Group, User

from aftersales.models import AfterSalesRequest
from catalog.models import Cart, CartLine, Product
from customers.models import Customer, Visitor
from customers.tokens import visitor_token_make
from logistics.models import Batch, Receipt, StockMove
from logistics.roles import WAREHOUSE_GROUP
from notifications.models import SubscribeConsent
from orders.models import Order, OrderEvent, OrderLine, Payment, PaymentNotification, Refund
from reps.feed import feed_token_make
from reps.models import EntryEvent, VisitNote
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, product_with_stock
from wechat.models import DevPayTransaction
from wechat.pay import crypto, keys

pytestmark = pytest.mark.django_db

CHINESE = re.compile(r"[\u4e00-\u9fff]")
HUGE_QUANTITIES = ["1e26", "1e30", "1e400", "9" * 40]
DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
MODELS = (Order, OrderLine, OrderEvent, Payment, PaymentNotification, Refund, Cart, CartLine, Customer, Visitor,
          EntryEvent, VisitNote, Batch, Receipt, StockMove, DevPayTransaction, Product, AfterSalesRequest,
          SubscribeConsent)


@pytest.fixture(autouse=True)
def _dev_keys(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"


class World:
    """Who calls (a visitor with a phone, a rep, a warehouse clerk) and what exists."""

    def __init__(self, client):
        self.client = client
        self.rep_user = User.objects.create_user("rep-no500", password="rep-no500-pw")
        self.rep = RepFactory(user=self.rep_user)
        self.customer = CustomerFactory(name="湘味小馆", phone="13800138000", rep=self.rep)
        self.visitor = VisitorFactory(customer=self.customer, phone=self.customer.phone)
        self.product = product_with_stock(name="去皮虾仁", price="45.50", on_hand="10")
        self.clerk = User.objects.create_user("clerk-no500", password="clerk-no500-pw")
        self.clerk.groups.add(Group.objects.get_or_create(name=WAREHOUSE_GROUP)[0])
        self.token = f"Visitor {visitor_token_make(self.visitor.pk)}"

    def as_visitor(self, method, path, body=None, content_type="application/json"):
        return self._send(method, path, body, content_type, HTTP_AUTHORIZATION=self.token)

    def as_rep(self, method, path, body=None, content_type="application/json"):
        self.client.force_login(self.rep_user)
        return self._send(method, path, body, content_type)

    def as_clerk(self, method, path, body=None, content_type="application/json"):
        self.client.force_login(self.clerk)
        return self._send(method, path, body, content_type)

    def anonymous(self, method, path, body=None, content_type="application/json", **extra):
        return self._send(method, path, body, content_type, **extra)

    def as_device(self, method, path, body=None, content_type="application/json"):
        """The dev WeChat pages' caller: a browser playing a phone (its device cookie set)."""
        self.client.post("/wechat-dev/login")
        return self._send(method, path, body, content_type)

    def _send(self, method, path, body, content_type, **extra):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        call = getattr(self.client, method.lower())
        if method == "GET":
            return call(path, **extra)
        return call(path, data=body if body is not None else "", content_type=content_type, **extra)

    def checkout(self, **changes):
        body = {"idempotency_key": "no-500-test-0001", "restaurant_name": "湘味小馆(福田店)", "contact_name": "王老板",
                "address": "深圳市福田区福华路 88 号", "district": "福田", "note": "后门卸货",
                "latitude": "22.541234", "longitude": "114.061234",
                "lines": [{"product_id": self.product.pk, "quantity": "3"}]}
        body.update(changes)
        return body


def _checkout_line(world, quantity):
    return world.checkout(lines=[{"product_id": world.product.pk, "quantity": quantity}])


NUL = "\u0000"
CASES = {
    # --- paging and NUL in URLs ------------------------------------------------------------------
    "product list page 99999999999999999999":
        lambda w: w.as_visitor("GET", "/api/v1/catalog/products?page=99999999999999999999"),
    "product list category 99999999999999999999":
        lambda w: w.as_visitor("GET", "/api/v1/catalog/products?category=99999999999999999999"),
    "product list category ²": lambda w: w.as_visitor("GET", "/api/v1/catalog/products?category=%C2%B2"),
    "NUL in ?q=": lambda w: w.as_visitor("GET", "/api/v1/catalog/products?q=%00"),
    "NUL inside ?q=": lambda w: w.as_visitor("GET", "/api/v1/catalog/products?q=xr%00%E8%99%BE"),
    "NUL in a product code": lambda w: w.as_visitor("GET", "/api/v1/catalog/products/SKU%0000001"),
    "NUL in a batch trace code": lambda w: w.anonymous("GET", "/t/B2611%0001/"),
    "NUL in the receiving lookup": lambda w: w.as_clerk("GET", "/ops/receiving/lookup?code=SKU%00"),
    "NUL in a form post": lambda w: w.as_clerk("POST", "/ops/receiving/", "supplier=1&note=%00",
                                                 content_type="application/x-www-form-urlencoded"),
    # --- NUL in JSON text fields -----------------------------------------------------------------
    **{f"NUL in checkout {field}": (lambda field: lambda w: w.as_visitor(
        "POST", "/api/v1/orders", w.checkout(**{field: f"湘味{NUL}小馆 88 号"})))(field)
       for field in ("restaurant_name", "contact_name", "address", "district", "note", "idempotency_key")},
    "control character in checkout note": lambda w: w.as_visitor(
        "POST", "/api/v1/orders", w.checkout(note="后门\u001b卸货")),
    "lone surrogate in checkout address": lambda w: w.as_visitor(
        "POST", "/api/v1/orders", '{"address": "\\ud800 深圳"}'),
    "NUL in a checkout line quantity": lambda w: w.as_visitor("POST", "/api/v1/orders", _checkout_line(w, f"1{NUL}")),
    "NUL in the phone code": lambda w: w.as_visitor("POST", "/api/v1/auth/phone", {"code": f"abc{NUL}"}),
    "NUL in the nickname": lambda w: w.as_visitor("POST", "/api/v1/auth/phone", {"code": "abc", "nickname": NUL}),
    "NUL in the login code": lambda w: w.anonymous("POST", "/api/v1/auth/session", {"code": f"c{NUL}"}),
    "NUL in an entry scene": lambda w: w.as_visitor("POST", "/api/v1/entries", {"scene": f"r={NUL}"}),
    "NUL in a JSON key": lambda w: w.as_visitor("POST", "/api/v1/cart/lines", {f"product{NUL}": 1}),
    "NUL in a cart quantity": lambda w: w.as_visitor(
        "POST", "/api/v1/cart/lines", {"product": w.product.pk, "quantity": f"1{NUL}"}),
    "NUL in a visit note": lambda w: w.as_rep(
        "POST", f"/api/v1/rep/customers/{w.customer.pk}/notes", {"note": f"拜访{NUL}"}),
    "NUL in the dev phone page": lambda w: w.as_device("POST", "/wechat-dev/phone-code", {"phone": f"1380013{NUL}8000"}),
    # --- huge quantities and coordinates ---------------------------------------------------------
    **{f"cart add quantity {q}": (lambda q: lambda w: w.as_visitor(
        "POST", "/api/v1/cart/lines", {"product": w.product.pk, "quantity": q}))(q) for q in HUGE_QUANTITIES},
    **{f"cart add JSON number {q}": (lambda q: lambda w: w.as_visitor(
        "POST", "/api/v1/cart/lines", '{"product": %d, "quantity": %s}' % (w.product.pk, q)))(q)
       for q in HUGE_QUANTITIES},
    **{f"cart set quantity {q}": (lambda q: lambda w: w.as_visitor(
        "PUT", f"/api/v1/cart/lines/{w.product.pk}", {"quantity": q}))(q) for q in HUGE_QUANTITIES},
    **{f"checkout line quantity {q}": (lambda q: lambda w: w.as_visitor(
        "POST", "/api/v1/orders", _checkout_line(w, q)))(q) for q in HUGE_QUANTITIES},
    **{f"checkout line JSON number {q}": (lambda q: lambda w: w.as_visitor(
        "POST", "/api/v1/orders",
        json.dumps(w.checkout(lines=[{"product_id": w.product.pk, "quantity": "__Q__"}])).replace('"__Q__"', q)))(q)
       for q in HUGE_QUANTITIES},
    **{f"checkout {name} {value}": (lambda name, value: lambda w: w.as_visitor(
        "POST", "/api/v1/orders", w.checkout(**{name: value})))(name, value)
       for name in ("latitude", "longitude") for value in ("1e30", "-1e40")},
    "checkout latitude JSON number 1e30": lambda w: w.as_visitor(
        "POST", "/api/v1/orders", json.dumps(w.checkout(latitude="__L__")).replace('"__L__"', "1e30")),
    # A coupon id that is no coupon: too big for the column, not an integer, or none that exists.
    **{f"checkout coupon_id {value}": (lambda value: lambda w: w.as_visitor(
        "POST", "/api/v1/orders", json.dumps(w.checkout(coupon_id="__C__")).replace('"__C__"', value)))(value)
       for value in ("18446744073709551616", "9223372036854775807", "1e30", "-1", "0", "true", '"7"', "[1]")},
    # --- JSON nested a thousand deep, on every endpoint that takes JSON ---------------------------
    "deep JSON on session": lambda w: w.anonymous("POST", "/api/v1/auth/session", DEEP),
    "deep JSON object on session": lambda w: w.anonymous("POST", "/api/v1/auth/session", DEEP_OBJECT),
    "deep JSON on entries": lambda w: w.as_visitor("POST", "/api/v1/entries", DEEP),
    "deep JSON on cart add": lambda w: w.as_visitor("POST", "/api/v1/cart/lines", DEEP),
    "deep JSON on cart set": lambda w: w.as_visitor("PUT", f"/api/v1/cart/lines/{w.product.pk}", DEEP),
    "deep JSON on phone": lambda w: w.as_visitor("POST", "/api/v1/auth/phone", DEEP),
    "deep JSON on checkout": lambda w: w.as_visitor("POST", "/api/v1/orders", DEEP),
    "deep JSON in checkout lines": lambda w: w.as_visitor(
        "POST", "/api/v1/orders", json.dumps(w.checkout(lines="__D__")).replace('"__D__"', DEEP)),
    "deep JSON on a visit note": lambda w: w.as_rep("POST", f"/api/v1/rep/customers/{w.customer.pk}/notes", DEEP),
    "deep JSON on the dev phone page": lambda w: w.as_device("POST", "/wechat-dev/phone-code", DEEP),
    "deep JSON on the dev pay confirm": lambda w: w.as_device("POST", "/wechat-dev/pay/confirm", DEEP_OBJECT),
    "deep JSON in a signed payment notification": lambda w: _signed_notification(w, DEEP_OBJECT),
    "deep JSON on subscribe consent": lambda w: w.as_visitor("POST", "/api/v1/messages/subscriptions", DEEP_OBJECT),
    "NUL in a subscribe result's template id": lambda w: w.as_visitor(
        "POST", "/api/v1/messages/subscriptions",
        json.dumps({"result": {"errMsg": "requestSubscribeMessage:ok", f"tmpl{NUL}": "accept"}})),
    "deep JSON in an after-sales request's lines (multipart)": lambda w: w.client.post(
        "/api/v1/aftersales", {"order_id": str(uuid.uuid4()), "reason": "quality", "lines": DEEP},
        HTTP_AUTHORIZATION=w.token),
    "NUL in an after-sales request's note (multipart)": lambda w: w.client.post(
        "/api/v1/aftersales", {"order_id": str(uuid.uuid4()), "reason": "quality", "note": f"坏了{NUL}",
                               "lines": "[]"}, HTTP_AUTHORIZATION=w.token),
    # --- dates in ?after= ------------------------------------------------------------------------
    **{f"rep feed after={value}": (lambda value: lambda w: w.as_rep("GET", f"/api/v1/rep/feed?after={value}"))(value)
       for value in ("2026-02-30T10:00:00%2B08:00", "2026-13-45T25:61:00Z", "0001-01-01T00:00:00%2B14:00")},
    **{f"feed poll after={value}": (lambda value: lambda w: w.anonymous(
        "GET", f"/api/v1/rep/feed/poll?after={value}", HTTP_X_FEED_TOKEN=feed_token_make(w.rep)))(value)
       for value in ("2026-02-30T10:00:00%2B08:00", "2026-13-45T25:61:00Z", "9999-12-31T23:59:59-14:00")},
    # --- multipart on the dev WeChat pages -------------------------------------------------------
    **{f"multipart on /wechat-dev/{page}": (lambda page: lambda w: _multipart(w, f"/wechat-dev/{page}"))(page)
       for page in ("phone-code", "pay/confirm")},
}


def _multipart(world, path):
    world.client.post("/wechat-dev/login")
    # With the CSRF check on (a real browser) the middleware reads the form before the view does.
    world.client.handler.enforce_csrf_checks = True
    world.client.get("/shop/")  # sets the csrftoken cookie
    token = world.client.cookies["csrftoken"].value if "csrftoken" in world.client.cookies else ""
    return world.client.post(path, {"phone": "13800138000", "csrfmiddlewaretoken": token}, HTTP_X_CSRFTOKEN=token)


def _signed_notification(world, body_text: str):
    timestamp, nonce = str(int(time.time())), "nonce-no-500"
    signature = crypto.rsa_sign(keys.dev_platform_private_key(), f"{timestamp}\n{nonce}\n{body_text}\n")
    return world.anonymous(
        "POST", "/payments/wechatpay/notify", body_text, HTTP_WECHATPAY_SERIAL=keys.DEV_PLATFORM_KEY_ID,
        HTTP_WECHATPAY_SIGNATURE=signature, HTTP_WECHATPAY_TIMESTAMP=timestamp, HTTP_WECHATPAY_NONCE=nonce)


def _snapshot():
    return {model.__name__: model.objects.count() for model in MODELS} | {
        "cart_quantities": list(CartLine.objects.order_by("pk").values_list("quantity", flat=True)),
        "customers": list(Customer.objects.order_by("pk").values_list("name", "address", "latitude")),
    }


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_in_the_error_shape_and_changes_nothing(client, case):
    world = World(client)
    before = _snapshot()

    response = CASES[case](world)

    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if case == "deep JSON in a signed payment notification":
        # WeChat Pay's own answer shape ({"code": "FAIL", "message"}), as for any refused notification.
        assert CHINESE.search(response.json()["message"])
    else:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"}
        assert CHINESE.search(error["message"]), error
    assert _snapshot() == before


def test_every_listed_case_reaches_the_code_it_names(client):
    """The cases are not refused for a reason beside the point (no token, wrong URL): the same
    requests with good values succeed."""
    world = World(client)
    assert world.as_visitor("GET", "/api/v1/catalog/products?page=1&q=xr").status_code == 200
    assert world.as_visitor("GET", f"/api/v1/catalog/products/{world.product.code}").status_code == 200
    assert world.as_clerk("GET", f"/ops/receiving/lookup?code={world.product.code}").status_code == 200
    assert world.as_visitor("POST", "/api/v1/cart/lines", {"product": world.product.pk, "quantity": "2"}).status_code == 200
    assert world.as_visitor("PUT", f"/api/v1/cart/lines/{world.product.pk}", {"quantity": "3"}).status_code == 200
    assert world.as_rep("GET", "/api/v1/rep/feed?after=2026-02-28T10:00:00%2B08:00").status_code == 200
    assert world.anonymous("GET", "/api/v1/rep/feed/poll?after=2026-02-28T10:00:00Z",
                           HTTP_X_FEED_TOKEN=feed_token_make(world.rep)).status_code == 200
    assert world.as_device("POST", "/wechat-dev/phone-code", {"phone": "13800138000"}).status_code == 200
    note = world.as_rep("POST", f"/api/v1/rep/customers/{world.customer.pk}/notes", {"note": "拜访\n下周再来"})
    assert note.status_code in (200, 201)
    placed = world.as_visitor("POST", "/api/v1/orders", world.checkout(note="后门\t卸货"))
    assert placed.status_code == 201, placed.content
    assert Order.objects.get(pk=uuid.UUID(placed.json()["order"]["id"])).note == "后门\t卸货"
