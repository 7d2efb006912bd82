"""Two checkouts racing with the same coupon, for real on PostgreSQL (threads, their own
connections, committed transactions): one order gets it, the other is refused with nothing
written; and the restaurant's phones racing many times over never use a coupon twice."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from coupons.models import CouponRedemption
from customers.tokens import visitor_token_make
from logistics.models import Stock
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderSettings
from tests.concurrency import run_in_threads
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock

from .conftest import give

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

DELIVERY = {"restaurant_name": "并发用券餐厅", "contact_name": "李", "address": "深圳市南山区科技园 1 号",
            "latitude": "22.54", "longitude": "113.95"}


@pytest.fixture
def world(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the unique index decides the race on PostgreSQL")
    settings.WECHATPAY_DEV_KEY_DIR = settings.BASE_DIR / "test-artifacts" / "wechatpay-dev-keys"
    row = OrderSettings.current()
    row.min_order_amount = Decimal("0")
    row.save()
    customer = CustomerFactory()
    product = product_with_stock(name="用券虾仁", price="60.00", on_hand="100")
    return customer, product


def _clients(customer, count):
    """`count` WeChat users of one restaurant (phones of the staff): each its own visitor lock."""
    clients = []
    for _ in range(count):
        visitor = VisitorFactory(customer=customer, phone=customer.phone)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
        clients.append(client)
    return clients


@pytest.mark.parametrize("racers", [2, 8])
def test_checkouts_racing_with_one_coupon_give_it_to_one_order(world, racers):
    customer, product = world
    coupon = give(customer, min_spend=Decimal("0"))
    clients = _clients(customer, racers)

    def place(index):
        body = dict(DELIVERY, idempotency_key=uuid.uuid4().hex, coupon_id=coupon.pk,
                    lines=[{"product_id": product.pk, "quantity": "2"}])
        response = clients[index].post("/api/v1/orders", body, format="json")
        return response.status_code, response.json()

    results = run_in_threads(racers, place)

    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (racers - 1), results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"coupon_used"}
    # One order holds the coupon; the refused ones wrote nothing (no order, no stock reserved).
    assert Order.objects.count() == 1
    order = Order.objects.get()
    assert order.discount == Decimal("20.00") and order.total == Decimal("110.00")  # 120 + 10 fee − 20
    assert list(CouponRedemption.objects.values_list("order_id", flat=True)) == [order.pk]
    assert Stock.objects.get(product=product).reserved == Decimal("2.00")
    assert stock_ledger_drift() == []


def test_a_released_coupon_raced_for_again_still_goes_to_one_order(world):
    customer, product = world
    coupon = give(customer, min_spend=Decimal("0"))
    clients = _clients(customer, 4)
    from orders.services import order_cancel_unpaid

    for round_number in range(3):
        def place(index):
            body = dict(DELIVERY, idempotency_key=uuid.uuid4().hex, coupon_id=coupon.pk,
                        lines=[{"product_id": product.pk, "quantity": "1"}])
            return clients[index].post("/api/v1/orders", body, format="json").status_code

        statuses = sorted(run_in_threads(4, place))
        assert statuses == [201, 409, 409, 409], (round_number, statuses)
        held = CouponRedemption.objects.get(coupon=coupon, released_at__isnull=True)
        assert order_cancel_unpaid(order_id=held.order_id, reason="客户取消", actor="customer")
    assert CouponRedemption.objects.filter(coupon=coupon).count() == 3
    assert not CouponRedemption.objects.filter(coupon=coupon, released_at__isnull=True).exists()
    assert Stock.objects.get(product=product).reserved == Decimal("0.00")
