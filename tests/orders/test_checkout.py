from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from catalog.models import CartLine
from core.errors import InsufficientStock, ValidationFailed
from customers.models import Customer
from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderEvent, OrderLine, OrderSettings, Payment
from orders.services import DeliveryInput, delivery_date_for, order_place, order_quote
from orders.services.checkout import BelowMinimumOrder, CartNotReady, PhoneRequired
from tests.factories import VisitorFactory

from .conftest import fill_cart

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_checkout_creates_the_order_from_the_cart(buyer, rules, shrimp, squid, delivery):
    fill_cart(buyer, (shrimp, "2"), (squid, "3.5"))

    order, created = order_place(visitor=buyer, idempotency_key="key-00000001", delivery=delivery)

    assert created is True
    assert order.status == Order.Status.PENDING_PAYMENT
    # 2 × 45.50 + 3.5 × 18.50 = 91.00 + 64.75 = 155.75, below 300 so the delivery fee applies.
    assert (order.subtotal, order.delivery_fee, order.total) == (Decimal("155.75"), Decimal("10.00"), Decimal("165.75"))
    lines = {line.product_code: line for line in OrderLine.objects.filter(order=order)}
    assert lines[shrimp.code].product_name == "去皮虾仁"
    assert (lines[shrimp.code].unit, lines[shrimp.code].unit_price, lines[shrimp.code].amount) == (
        "袋", Decimal("45.50"), Decimal("91.00"))
    assert lines[squid.code].quantity == Decimal("3.50")
    assert Payment.objects.get(order=order).amount_fen == 16575
    assert (order.restaurant_name, order.phone, order.latitude) == ("湘味小馆(福田店)", "13800138000", Decimal("22.541234"))
    assert not CartLine.objects.filter(cart__visitor=buyer).exists()
    assert list(OrderEvent.objects.filter(order=order).values_list("to_status", flat=True)) == ["pending_payment"]
    assert Stock.objects.get(product=shrimp).reserved == Decimal("2.00")
    assert Stock.objects.get(product=squid).reserved == Decimal("3.50")
    assert StockMove.objects.filter(kind="reservation", reference=order.number).count() == 2
    assert stock_ledger_drift() == []
    assert Customer.objects.get(pk=buyer.customer_id).address == "深圳市福田区福华路 88 号"


def test_lines_keep_the_price_of_the_day_they_were_ordered(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "3"))
    order, _ = order_place(visitor=buyer, idempotency_key="key-00000002", delivery=delivery)
    shrimp.price = Decimal("99.00")
    shrimp.name = "改名虾仁"
    shrimp.save()
    line = OrderLine.objects.get(order=order)
    assert (line.product_name, line.unit_price) == ("去皮虾仁", Decimal("45.50"))


def test_free_delivery_above_the_threshold(buyer, rules, squid, delivery):
    fill_cart(buyer, (squid, "20"))  # 370.00
    order, _ = order_place(visitor=buyer, idempotency_key="key-00000003", delivery=delivery)
    assert (order.delivery_fee, order.total) == (Decimal("0.00"), Decimal("370.00"))


def test_retried_checkout_returns_the_same_order(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "3"))
    first, created = order_place(visitor=buyer, idempotency_key="double-tap-1", delivery=delivery)
    again, created_again = order_place(visitor=buyer, idempotency_key="double-tap-1", delivery=delivery)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    assert Stock.objects.get(product=shrimp).reserved == Decimal("3.00")


def test_below_minimum_is_refused_and_nothing_changes(buyer, rules, squid, delivery):
    fill_cart(buyer, (squid, "2"))  # 37.00 < 100
    with pytest.raises(BelowMinimumOrder) as refused:
        order_place(visitor=buyer, idempotency_key="key-00000004", delivery=delivery)
    assert refused.value.message == "商品金额 ¥37.00 未达到起送金额 ¥100.00，还差 ¥63.00"
    assert Order.objects.count() == 0
    assert Stock.objects.get(product=squid).reserved == 0
    assert CartLine.objects.filter(cart__visitor=buyer).count() == 1


def test_a_visitor_without_a_phone_cannot_order(rules, shrimp, delivery):
    anonymous = VisitorFactory()
    fill_cart(anonymous, (shrimp, "3"))
    with pytest.raises(PhoneRequired):
        order_place(visitor=anonymous, idempotency_key="key-00000005", delivery=delivery)
    assert Order.objects.count() == 0


def test_empty_cart_is_refused(buyer, rules, delivery):
    with pytest.raises(CartNotReady) as refused:
        order_place(visitor=buyer, idempotency_key="key-00000006", delivery=delivery)
    assert refused.value.code == "cart_empty"


def test_a_line_that_became_unavailable_blocks_checkout_with_its_name(buyer, rules, shrimp, squid, delivery):
    fill_cart(buyer, (shrimp, "3"), (squid, "10"))
    shrimp.is_active = False
    shrimp.save()
    with pytest.raises(CartNotReady) as refused:
        order_place(visitor=buyer, idempotency_key="key-00000007", delivery=delivery)
    assert refused.value.message == "去皮虾仁：已下架"
    assert Order.objects.count() == 0 and Stock.objects.get(product=squid).reserved == 0


def test_stock_taken_by_someone_else_meanwhile_is_refused(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "5"))
    Stock.objects.filter(product=shrimp).update(reserved=Decimal("8"))
    with pytest.raises(InsufficientStock) as refused:
        order_place(visitor=buyer, idempotency_key="key-00000008", delivery=delivery)
    assert refused.value.message == "库存不足：去皮虾仁（剩余 2 袋）"
    assert Order.objects.count() == 0


def test_the_locked_stock_decides_not_the_quote_the_buyer_saw(buyer, rules, shrimp, delivery):
    # The checkout page showed the line as orderable; by the tap the last units went elsewhere.
    fill_cart(buyer, (shrimp, "5"))
    assert order_quote(visitor=buyer).problems == []
    Stock.objects.filter(product=shrimp).update(reserved=Decimal("10"))
    with pytest.raises(InsufficientStock) as refused:
        order_place(visitor=buyer, idempotency_key="key-00000009", delivery=delivery)
    assert refused.value.message == "库存不足：去皮虾仁（已售罄）"
    assert Order.objects.count() == 0
    assert Stock.objects.get(product=shrimp).reserved == Decimal("10")
    assert CartLine.objects.filter(cart__visitor=buyer).count() == 1  # the cart is left for the buyer to fix


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("restaurant_name", "", "请填写餐厅名称"),
        ("address", "福田", "详细地址须为 5-200 个字符"),
        ("latitude", "abc", "请在地图上标记收货位置（纬度无效）"),
        ("longitude", "200", "经度超出范围，请重新标记收货位置"),
        ("latitude", "NaN", "请在地图上标记收货位置（纬度无效）"),
    ],
)
def test_bad_delivery_details_are_refused(field, value, message):
    data = {"restaurant_name": "湘味小馆", "contact_name": "王", "address": "深圳市福田区福华路 88 号",
            "latitude": "22.54", "longitude": "114.06", field: value}
    with pytest.raises(ValidationFailed) as refused:
        DeliveryInput.parse(data)
    assert refused.value.message == message


@pytest.mark.parametrize(
    "local_time, expected",
    [
        (time(0, 0), date(2026, 11, 24)),
        (time(22, 59, 59), date(2026, 11, 24)),
        (time(23, 0), date(2026, 11, 25)),
        (time(23, 59), date(2026, 11, 25)),
    ],
)
def test_delivery_date_follows_the_cutoff_in_shanghai_time(db, local_time, expected):
    rules = OrderSettings(cutoff_time=time(23, 0))
    moment = datetime.combine(date(2026, 11, 23), local_time, tzinfo=SHANGHAI)
    assert delivery_date_for(moment=moment, settings_row=rules) == expected


def test_order_placed_after_cutoff_gets_the_later_date(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "3"))
    # 23:30 in Shenzhen is 15:30 UTC — still "before 23:00" if compared in UTC.
    with time_machine.travel(datetime(2026, 11, 23, 15, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        order, _ = order_place(visitor=buyer, idempotency_key="late-night-1", delivery=delivery)
    assert order.delivery_date == date(2026, 11, 25)


def test_order_placed_just_after_midnight_shanghai_is_delivered_the_next_day(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "3"))
    # 00:10 on the 24th in Shenzhen is still the 23rd in UTC.
    with time_machine.travel(datetime(2026, 11, 23, 16, 10, tzinfo=ZoneInfo("UTC")), tick=False):
        order, _ = order_place(visitor=buyer, idempotency_key="after-midnight", delivery=delivery)
    assert order.delivery_date == date(2026, 11, 25)
    assert order.number.startswith("261124")


def test_idempotency_key_is_required(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "3"))
    with pytest.raises(ValidationFailed):
        order_place(visitor=buyer, idempotency_key="x", delivery=delivery)
    assert Order.objects.count() == 0
