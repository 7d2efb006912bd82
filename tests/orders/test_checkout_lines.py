"""Checking out the basket the buyer confirmed (`lines`), and the checkout endpoint's own contract."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import CartLine
from customers.models import Customer
from customers.tokens import visitor_token_make
from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderLine
from orders.selectors import customer_order_get
from orders.serializers import OrderDetailSerializer
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock

from .conftest import fill_cart

pytestmark = pytest.mark.django_db

DELIVERY = {"restaurant_name": "湘味小馆(福田店)", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
            "district": "福田", "latitude": "22.541234", "longitude": "114.061234"}


def client_for(visitor):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def checkout(visitor, lines, key=None, **extra):
    body = dict(DELIVERY, idempotency_key=key or uuid.uuid4().hex, lines=lines, **extra)
    return client_for(visitor).post("/api/v1/orders", body, format="json")


def line(product, quantity, **extra):
    return {"product_id": product.pk, "quantity": quantity, **extra}


def nothing_changed(*products):
    assert Order.objects.count() == 0
    assert all(Stock.objects.get(product=p).reserved == 0 for p in products)
    assert StockMove.objects.filter(kind=StockMove.Kind.RESERVATION).count() == 0


def test_the_order_is_the_confirmed_basket_and_only_those_products_leave_the_cart(buyer, rules, shrimp, squid):
    crab = product_with_stock(name="帝王蟹腿", price="120.00", on_hand="5")
    fill_cart(buyer, (shrimp, "1"), (squid, "4"), (crab, "1"))

    response = checkout(buyer, [line(shrimp, "3"), line(squid, "2.5")])

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert {(l.product_id, l.quantity) for l in order.lines.all()} == {(shrimp.pk, Decimal("3.00")),
                                                                       (squid.pk, Decimal("2.50"))}
    assert order.subtotal == Decimal("182.75") and order.total == Decimal("192.75")  # 3×45.50 + 2.5×18.50 + 10
    assert list(CartLine.objects.filter(cart__visitor=buyer).values_list("product_id", flat=True)) == [crab.pk]
    assert Stock.objects.get(product=shrimp).reserved == Decimal("3.00")
    assert Stock.objects.get(product=squid).reserved == Decimal("2.50")
    assert stock_ledger_drift() == []


def test_lines_and_ledger_keep_the_basket_and_every_field_whatever_the_product_order(buyer, rules):
    # Products created so that their ids run against the basket's order; one catch-weight line
    # with a nominal weight among lines without one (an array holding NULLs).
    crab, tuna, cod = (product_with_stock(name=name, price=price, on_hand="50") for name, price in
                       (("帝王蟹腿", "120.00"), ("金枪鱼中腹", "88.00"), ("银鳕鱼", "66.60")))
    cod.catch_weight, cod.nominal_weight, cod.spec = True, Decimal("2.40"), "约2.4斤/条"
    cod.save()

    response = checkout(buyer, [line(cod, "2"), line(crab, "1"), line(tuna, "3")])

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert [(l.product_id, l.product_name, l.product_code, l.spec, l.unit, l.unit_price, l.quantity, l.amount,
             l.catch_weight, l.nominal_weight) for l in order.lines.order_by("id")] == [
        (cod.pk, "银鳕鱼", cod.code, "约2.4斤/条", cod.unit, Decimal("66.60"), Decimal("2.00"), Decimal("133.20"),
         True, Decimal("2.40")),
        (crab.pk, "帝王蟹腿", crab.code, crab.spec, crab.unit, Decimal("120.00"), Decimal("1.00"), Decimal("120.00"),
         False, None),
        (tuna.pk, "金枪鱼中腹", tuna.code, tuna.spec, tuna.unit, Decimal("88.00"), Decimal("3.00"), Decimal("264.00"),
         False, None),
    ]
    assert (order.subtotal, order.delivery_fee, order.total) == (Decimal("517.20"), Decimal("0.00"), Decimal("517.20"))
    moves = StockMove.objects.filter(kind=StockMove.Kind.RESERVATION).order_by("id")
    assert sorted((m.stock.product_id, m.reserved_delta, m.on_hand_delta, m.reference) for m in moves) == sorted(
        [(cod.pk, Decimal("2.00"), Decimal("0.00"), order.number), (crab.pk, Decimal("1.00"), Decimal("0.00"), order.number),
         (tuna.pk, Decimal("3.00"), Decimal("0.00"), order.number)])
    assert {s.product_id: s.reserved for s in Stock.objects.filter(product__in=[cod, crab, tuna])} == {
        cod.pk: Decimal("2.00"), crab.pk: Decimal("1.00"), tuna.pk: Decimal("3.00")}
    assert all(m.created_at == order.created_at for m in moves)
    payment = order.payment
    assert (payment.out_trade_no, payment.amount_fen, payment.status, payment.created_at) == (
        order.number, 51720, "created", order.created_at)
    assert list(order.events.values_list("from_status", "to_status", "actor")) == [("", "pending_payment", "customer")]
    assert stock_ledger_drift() == []


def test_prices_sent_with_the_lines_are_ignored(buyer, rules, shrimp):
    response = checkout(buyer, [line(shrimp, "3", unit_price="0.01", amount="0.03", price="0.01")],
                        total="0.01", delivery_fee="0")
    assert response.status_code == 201
    assert response.json()["order"]["total"] == "146.50"
    assert OrderLine.objects.get().unit_price == Decimal("45.50")


def test_the_answer_is_what_the_order_page_shows(buyer, rules, shrimp, squid):
    response = checkout(buyer, [line(shrimp, "3"), line(squid, "2")])
    body = response.json()["order"]
    stored = customer_order_get(customer_id=buyer.customer_id, order_id=body["id"])
    assert body == OrderDetailSerializer(stored).data


def test_a_retry_with_the_same_key_returns_the_first_order_whatever_the_lines(buyer, rules, shrimp, squid):
    first = checkout(buyer, [line(shrimp, "3")], key="retry-key-0001")
    again = checkout(buyer, [line(squid, "10")], key="retry-key-0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert again.json()["payment"]["package"].startswith("prepay_id=")
    assert Order.objects.count() == 1 and Stock.objects.get(product=squid).reserved == 0


@pytest.mark.parametrize(
    "quantity, code, message",
    [
        ("1", "below_minimum_quantity", "冻鱿鱼须 起订量为 2 斤"),
        ("2.2", "invalid_quantity_step", "冻鱿鱼须 须按 0.5 斤 递增（起订 2 斤）"),
        ("10000", "above_maximum_quantity", "单个商品最多 9999 斤，大批量请联系业务员"),
        ("2.555", "invalid_quantity", "数量最多两位小数"),
        ("-2", "invalid_quantity", "数量必须大于 0"),
        ("abc", "invalid_quantity", "数量格式不正确"),
        (None, "invalid_quantity", "请填写数量"),
    ],
)
def test_quantity_rules_are_the_servers(buyer, rules, squid, shrimp, quantity, code, message):
    response = checkout(buyer, [line(shrimp, "3"), line(squid, quantity)])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"] == message
    nothing_changed(shrimp, squid)


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], "请选择要购买的商品"),
        ("3 x shrimp", "请选择要购买的商品"),
        ([{"product_id": "7", "quantity": "1"}], "商品编号不正确"),
        ([{"product_id": True, "quantity": "1"}], "商品编号不正确"),
        ([{"product_id": 0, "quantity": "1"}], "商品编号不正确"),
        ([["7", "1"]], "商品编号不正确"),
    ],
)
def test_malformed_lines_are_refused(buyer, rules, shrimp, lines, message):
    response = checkout(buyer, lines)
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "invalid_lines", "message": message, "details": {}}
    nothing_changed(shrimp)


def test_the_same_product_twice_and_too_many_lines_are_refused(buyer, rules, shrimp, settings):
    twice = checkout(buyer, [line(shrimp, "1"), line(shrimp, "2")])
    assert twice.json()["error"]["message"] == "同一商品只能出现一次"
    settings.CART_MAX_LINES = 2
    many = checkout(buyer, [{"product_id": n, "quantity": "1"} for n in range(1, 4)])
    assert (many.status_code, many.json()["error"]["message"]) == (400, "一次最多结算 2 种商品")
    nothing_changed(shrimp)


def test_an_unknown_product_is_named(buyer, rules, shrimp):
    response = checkout(buyer, [line(shrimp, "3"), {"product_id": 987654, "quantity": "1"}])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "product_not_found"
    assert response.json()["error"]["message"] == "商品不存在（编号 987654）"
    nothing_changed(shrimp)


def test_an_off_sale_product_blocks_the_order_with_its_name(buyer, rules, shrimp, squid):
    squid.category.is_active = False  # the whole shelf was taken off sale
    squid.category.save()
    response = checkout(buyer, [line(shrimp, "3"), line(squid, "2")])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cart_not_ready"
    assert response.json()["error"]["message"] == "冻鱿鱼须：已下架"
    nothing_changed(shrimp, squid)


def test_shortage_is_refused_with_what_is_left(buyer, rules, shrimp, squid):
    Stock.objects.filter(product=squid).update(reserved=Decimal("47"))
    response = checkout(buyer, [line(shrimp, "3"), line(squid, "4")])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_stock"
    assert response.json()["error"]["message"] == "库存不足：冻鱿鱼须（剩余 3 斤）"
    assert Order.objects.count() == 0 and Stock.objects.get(product=shrimp).reserved == 0


def test_below_minimum_counts_only_the_confirmed_lines(buyer, rules, shrimp, squid):
    fill_cart(buyer, (squid, "20"))  # enough in the cart, but the buyer confirmed only one bag
    response = checkout(buyer, [line(shrimp, "1")])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "below_minimum_order"
    assert response.json()["error"]["message"] == "商品金额 ¥45.50 未达到起送金额 ¥100.00，还差 ¥54.50"
    nothing_changed(shrimp, squid)


def test_without_lines_the_whole_cart_is_ordered(buyer, rules, shrimp, squid):
    fill_cart(buyer, (shrimp, "3"), (squid, "2"))
    response = client_for(buyer).post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex),
                                      format="json")
    assert response.status_code == 201
    assert OrderLine.objects.count() == 2 and not CartLine.objects.filter(cart__visitor=buyer).exists()


def test_the_restaurants_details_follow_its_latest_order(buyer, rules, shrimp):
    checkout(buyer, [line(shrimp, "3")])
    customer = Customer.objects.get(pk=buyer.customer_id)
    assert (customer.name, customer.address, customer.latitude) == (
        "湘味小馆(福田店)", "深圳市福田区福华路 88 号", Decimal("22.541234"))
    touched = customer.updated_at
    checkout(buyer, [line(shrimp, "3")])  # the same details: the row is left alone
    assert Customer.objects.get(pk=buyer.customer_id).updated_at == touched
    checkout(buyer, [line(shrimp, "3")], address="深圳市南山区科技园 1 号")
    assert Customer.objects.get(pk=buyer.customer_id).address == "深圳市南山区科技园 1 号"


@pytest.mark.parametrize(
    "headers, code, message",
    [
        ({}, "not_authenticated", "请先进入小程序（缺少访客凭证）"),
        ({"HTTP_AUTHORIZATION": "Visitor forged.token"}, "authentication_failed", "登录已失效，请重新进入"),
        ({"HTTP_AUTHORIZATION": "Visitor"}, "authentication_failed", "登录已失效，请重新进入"),
    ],
)
def test_checkout_needs_a_valid_visitor_token(client, rules, shrimp, headers, code, message):
    response = client.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex, lines=[line(shrimp, "3")]),
                           content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == {"code": code, "message": message, "details": {}}
    assert response["WWW-Authenticate"] == "Visitor"
    nothing_changed(shrimp)


def test_a_token_of_a_visitor_that_no_longer_exists_is_refused(client, rules, shrimp):
    token = visitor_token_make(987654)
    response = client.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex, lines=[line(shrimp, "3")]),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Visitor {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        ("idempotency_key=abc", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("{not json", "application/json", 400, "parse_error"),
        ("[1, 2]", "application/json", 400, "parse_error"),
        ('{"idempotency_key": ["x"], "restaurant_name": {"a": 1}}', "application/json", 400, "invalid_delivery"),
    ],
)
def test_a_body_that_is_not_a_checkout_is_refused(buyer, rules, shrimp, body, content_type, status, code):
    response = client_for(buyer).generic("POST", "/api/v1/orders", body, content_type=content_type)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    nothing_changed(shrimp)


@pytest.mark.parametrize("count", [1, 12])
def test_checkout_statements_do_not_grow_with_the_basket(buyer, rules, count):
    if connection.vendor != "postgresql":
        pytest.skip("the writes travel as one batch on PostgreSQL; elsewhere they run one by one")
    products = [product_with_stock(price="150.00", on_hand="100") for _ in range(count)]
    client = client_for(buyer)
    body = dict(DELIVERY, idempotency_key=uuid.uuid4().hex, lines=[line(p, "1") for p in products])
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 201, response.content
    statements = [q["sql"] for q in queries.captured_queries]
    # Visitor and products locked and read in one statement (after its PREPARE on a new connection),
    # one batch of writes, WeChat Pay's prepay; plus transaction control. The same for 1 line or 12.
    work = [s for s in statements if s not in ("BEGIN", "COMMIT") and not s.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) <= 4, statements
    assert OrderLine.objects.count() == count


def test_a_visitor_of_another_restaurant_cannot_reuse_a_key_to_see_an_order(rules, shrimp):
    first, second = VisitorFactory(customer=CustomerFactory()), VisitorFactory(customer=CustomerFactory())
    a = checkout(first, [line(shrimp, "3")], key="shared-key-0001")
    b = checkout(second, [line(shrimp, "3")], key="shared-key-0001")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["order"]["id"] != b.json()["order"]["id"]



def test_lost_prepared_statements_inside_a_transaction_are_prepared_again(buyer, rules, shrimp):
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE is PostgreSQL's")
    assert checkout(buyer, [line(shrimp, "3")]).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    response = checkout(buyer, [line(shrimp, "3")])
    assert response.status_code == 201, response.content
    assert Order.objects.count() == 2
