"""Real concurrency on PostgreSQL: threads, separate connections, committed transactions."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from customers.tokens import visitor_token_make
from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderLine, OrderSettings
from tests.concurrency import run_in_threads
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock

from .conftest import fill_cart

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

DELIVERY = {"restaurant_name": "并发测试餐厅", "contact_name": "李", "address": "深圳市南山区科技园 1 号",
            "latitude": "22.54", "longitude": "113.95"}


@pytest.fixture
def cheap_rules():
    row = OrderSettings.current()
    row.min_order_amount = Decimal("0")
    row.save()
    return row


def test_32_buyers_for_the_last_10_units_sell_exactly_10(cheap_rules, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    settings.WECHATPAY_DEV_KEY_DIR = settings.BASE_DIR / "test-artifacts" / "wechatpay-dev-keys"
    product = product_with_stock(name="最后的虾仁", price="30.00", on_hand="10")
    clients = []
    for i in range(32):
        visitor = VisitorFactory(customer=CustomerFactory())
        fill_cart(visitor, (product, "1"))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
        clients.append(client)

    def buy(index):
        response = clients[index].post(
            "/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json")
        return response.status_code, response.json()

    results = run_in_threads(32, buy)

    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 10
    assert statuses.count(409) == 22
    assert all("库存不足" in body["error"]["message"] for status, body in results if status == 409)
    stock = Stock.objects.get(product=product)
    assert (stock.on_hand, stock.reserved) == (Decimal("10.00"), Decimal("10.00"))
    sold = sum(OrderLine.objects.filter(product=product).values_list("quantity", flat=True))
    reserved_in_ledger = sum(StockMove.objects.filter(stock=stock, kind="reservation")
                             .values_list("reserved_delta", flat=True))
    assert sold == reserved_in_ledger == Decimal("10.00")
    assert Order.objects.count() == 10
    assert stock_ledger_drift() == []


def test_double_tap_from_two_threads_creates_one_order(cheap_rules, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    settings.WECHATPAY_DEV_KEY_DIR = settings.BASE_DIR / "test-artifacts" / "wechatpay-dev-keys"
    product = product_with_stock(price="30.00", on_hand="100")
    visitor = VisitorFactory(customer=CustomerFactory())
    fill_cart(visitor, (product, "3"))
    token = visitor_token_make(visitor.pk)
    key = uuid.uuid4().hex

    def tap(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {token}")
        response = client.post("/api/v1/orders", dict(DELIVERY, idempotency_key=key), format="json")
        return response.status_code, response.json()["order"]["id"]

    results = run_in_threads(8, tap)

    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({order_id for _, order_id in results}) == 1
    assert Order.objects.count() == 1
    assert Stock.objects.get(product=product).reserved == Decimal("3.00")


def test_double_tap_of_a_confirmed_basket_creates_one_order(cheap_rules, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    settings.WECHATPAY_DEV_KEY_DIR = settings.BASE_DIR / "test-artifacts" / "wechatpay-dev-keys"
    product = product_with_stock(price="30.00", on_hand="100")
    visitor = VisitorFactory(customer=CustomerFactory())
    token = visitor_token_make(visitor.pk)
    body = dict(DELIVERY, idempotency_key=uuid.uuid4().hex, lines=[{"product_id": product.pk, "quantity": "3"}])

    def tap(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {token}")
        response = client.post("/api/v1/orders", body, format="json")
        return response.status_code, response.json().get("order", {}).get("id")

    for _ in range(3):  # the interleavings differ from round to round
        body["idempotency_key"] = uuid.uuid4().hex
        results = run_in_threads(8, tap)
        assert sorted(status for status, _ in results) == [200] * 7 + [201], results
        assert len({order_id for _, order_id in results}) == 1
    assert Order.objects.count() == 3
    assert Stock.objects.get(product=product).reserved == Decimal("9.00")
    assert stock_ledger_drift() == []
