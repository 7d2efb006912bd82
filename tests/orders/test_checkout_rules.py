"""checkout_decide, the rules of checkout, on snapshots: no database (these tests have no `db`)."""

from dataclasses import replace
from datetime import datetime, time
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest

from core.errors import InsufficientStock, ValidationFailed
from orders.services.checkout_rules import (
    BasketLine,
    BelowMinimumOrder,
    CartNotReady,
    CheckoutSnapshot,
    CustomerSnapshot,
    DeliveryDetails,
    OrderRules,
    PhoneRequired,
    ProductSnapshot,
    checkout_decide,
)

D = Decimal
NOW = datetime(2026, 12, 6, 6, 0, tzinfo=dt_timezone.utc)  # 14:00 in Shanghai
RULES = OrderRules(cutoff_time=time(23, 0), min_order_amount=D("100.00"), delivery_fee=D("10.00"),
                   free_delivery_threshold=D("300.00"), payment_timeout_minutes=15)
CUSTOMER = CustomerSnapshot(id=7, rep_id=3, phone="13800138000", name="老王火锅", contact_name="王老板",
                            address="福田区车公庙 1 号", district="福田区", latitude=D("22.540000"),
                            longitude=D("114.060000"))
DELIVERY = DeliveryDetails(restaurant_name="老王火锅", contact_name="王老板", address="福田区车公庙 1 号",
                           latitude=D("22.540000"), longitude=D("114.060000"), district="福田区")


def product(pk=1, *, name="冻虾仁", price="45.00", minimum="1", step="1", available="50", unit="斤", **flags):
    return ProductSnapshot(
        id=pk, code=f"SKU{pk}", name=name, spec="1斤/袋", unit=unit, price=D(price), min_quantity=D(minimum),
        step_quantity=D(step), catch_weight=False, nominal_weight=None,
        product_active=flags.get("product_active", True), category_active=flags.get("category_active", True),
        parent_active=flags.get("parent_active", True), stock_id=100 + pk, available=D(available))


def snapshot(*lines, products=(), customer=CUSTOMER, explicit=True, unstocked=None, rules=RULES, now=NOW):
    return CheckoutSnapshot(
        visitor_id=9, openid="oOPENID", customer=customer,
        basket=tuple(BasketLine(product_id=pk, quantity=D(q)) for pk, q in lines), explicit=explicit,
        products={p.id: p for p in products}, unstocked=unstocked or {}, rules=rules, now=now)


def test_a_basket_becomes_a_priced_plan():
    plan = checkout_decide(snapshot((1, "3"), (2, "2.5"), products=[product(1), product(2, price="12.40", step="0.5")]), DELIVERY)

    assert [(line.product.id, line.quantity, line.unit_price, line.amount) for line in plan.lines] == [
        (1, D("3"), D("45.00"), D("135.00")), (2, D("2.5"), D("12.40"), D("31.00"))]
    assert (plan.subtotal, plan.delivery_fee, plan.discount, plan.total) == (
        D("166.00"), D("10.00"), D("0.00"), D("176.00"))
    assert plan.reservations == {101: D("3"), 102: D("2.5")}
    assert plan.expires_at == datetime(2026, 12, 6, 6, 15, tzinfo=dt_timezone.utc)
    assert str(plan.delivery_date) == "2026-12-07"
    assert plan.details_changed is False


def test_without_a_restaurant_nothing_is_ordered():
    with pytest.raises(PhoneRequired):
        checkout_decide(snapshot((1, "3"), products=[product(1)], customer=None), DELIVERY)


def test_an_empty_cart_is_refused():
    with pytest.raises(CartNotReady) as refused:
        checkout_decide(snapshot(explicit=False), DELIVERY)
    assert refused.value.code == "cart_empty"


def test_a_named_product_that_does_not_exist_is_refused_by_its_id():
    with pytest.raises(ValidationFailed) as refused:
        checkout_decide(snapshot((1, "3"), (404, "1"), products=[product(1)], unstocked={404: None}), DELIVERY)
    assert refused.value.code == "product_not_found"
    assert refused.value.details == {"product_id": 404}


def test_a_product_never_stocked_is_a_problem_named_by_its_name():
    with pytest.raises(CartNotReady) as refused:
        checkout_decide(snapshot((1, "3"), (5, "1"), products=[product(1)], unstocked={5: "冻鱿鱼须"}), DELIVERY)
    assert refused.value.details == {"problems": ["冻鱿鱼须：缺货"]}


@pytest.mark.parametrize("flags", [
    {"product_active": False}, {"category_active": False}, {"parent_active": False},
])
def test_off_sale_by_any_of_its_flags(flags):
    with pytest.raises(CartNotReady) as refused:
        checkout_decide(snapshot((1, "3"), products=[product(1, **flags)]), DELIVERY)
    assert refused.value.details == {"problems": ["冻虾仁：已下架"]}


def test_a_top_level_category_has_no_aisle_to_be_off():
    plan = checkout_decide(snapshot((1, "3"), products=[product(1, parent_active=None)]), DELIVERY)
    assert plan.subtotal == D("135.00")


@pytest.mark.parametrize(("quantity", "code"), [
    ("1.5", "below_minimum_quantity"), ("2.5", "invalid_quantity_step"), ("10002", "above_maximum_quantity"),
])
def test_quantities_follow_the_product_rules(quantity, code):
    with pytest.raises(ValidationFailed) as refused:
        checkout_decide(snapshot((1, quantity), products=[product(1, minimum="2", step="1", available="99999")]),
                        DELIVERY)
    assert refused.value.code == code


def test_short_stock_names_what_is_left():
    with pytest.raises(InsufficientStock) as refused:
        checkout_decide(snapshot((1, "3"), (2, "4"), products=[product(1, available="2"),
                                                                product(2, name="鱿鱼须", available="0")]), DELIVERY)
    assert refused.value.message == "库存不足：冻虾仁（剩余 2 斤）、鱿鱼须（已售罄）"
    assert refused.value.details == {"lines": [{"product_id": 1, "available": "2"},
                                               {"product_id": 2, "available": "0"}]}


def test_problems_and_shortfalls_are_refused_together():
    with pytest.raises(CartNotReady) as refused:
        checkout_decide(snapshot((1, "3"), (2, "4"), products=[product(1, available="2"),
                                                                product(2, name="鱿鱼须", product_active=False)]),
                        DELIVERY)
    assert refused.value.details == {"problems": ["鱿鱼须：已下架", "冻虾仁：库存不足，剩余 2 斤"]}


def test_below_the_minimum_order_says_how_much_is_missing():
    with pytest.raises(BelowMinimumOrder) as refused:
        checkout_decide(snapshot((1, "2"), products=[product(1)]), DELIVERY)
    assert refused.value.message == "商品金额 ¥90.00 未达到起送金额 ¥100.00，还差 ¥10.00"


@pytest.mark.parametrize(("quantity", "fee"), [("6.66", "10.00"), ("6.67", "0.00")])  # 299.70 / 300.15
def test_delivery_is_free_from_the_threshold(quantity, fee):
    plan = checkout_decide(snapshot((1, quantity), products=[product(1, step="0.01")]), DELIVERY)
    assert plan.delivery_fee == D(fee)
    assert plan.total == plan.subtotal + D(fee)


@pytest.mark.parametrize(("utc", "day"), [
    (datetime(2026, 12, 6, 14, 59, 59, tzinfo=dt_timezone.utc), "2026-12-07"),  # 22:59:59 Shanghai
    (datetime(2026, 12, 6, 15, 0, 0, tzinfo=dt_timezone.utc), "2026-12-08"),  # 23:00 Shanghai: the cut-off
    (datetime(2026, 12, 6, 16, 30, 0, tzinfo=dt_timezone.utc), "2026-12-08"),  # 00:30 on the 7th: next day
])
def test_the_delivery_date_follows_the_cutoff_in_shanghai(utc, day):
    plan = checkout_decide(snapshot((1, "3"), products=[product(1)], now=utc), DELIVERY)
    assert str(plan.delivery_date) == day


def test_changed_delivery_details_are_kept_for_next_time_and_the_district_stays_when_not_given():
    moved = replace(DELIVERY, address="南山区科技园 8 号", district="")
    plan = checkout_decide(snapshot((1, "3"), products=[product(1)]), moved)
    assert plan.details_changed is True
    assert plan.district == "福田区"
    assert checkout_decide(snapshot((1, "3"), products=[product(1)]), replace(DELIVERY, district="")).details_changed \
        is False


def test_the_price_is_the_buyers():
    plan = checkout_decide(snapshot((1, "3"), products=[product(1)]), DELIVERY)
    assert plan.customer.buyer.customer_id == CUSTOMER.id
