"""coupons.rules at their edges, without a database: refusals in order, the discount of each
kind, the minimum spend and the dates to the day, categories through the parent, the spread over
lines to the fen, and the suggestion (largest discount; a tie to the earliest expiry)."""

from datetime import date
from decimal import Decimal

import pytest

from coupons.rules import (
    CouponLine,
    CouponRefused,
    CouponTerms,
    coupon_allocate,
    coupon_discount,
    coupon_options,
    coupon_status,
)

TODAY = date(2026, 12, 7)
D = Decimal


def terms(**values) -> CouponTerms:
    base = dict(id=1, customer_id=7, name="满100减20", kind="amount", amount_off=D("20.00"), percent_off=None,
                max_discount=None, min_spend=D("100.00"), valid_from=date(2026, 12, 1), valid_to=date(2026, 12, 31),
                is_active=True)
    base.update(values)
    return CouponTerms(**base)


def lines(*amounts, chain=(10, 1)) -> list[CouponLine]:
    return [CouponLine(key=index + 1, amount=D(amount), category_chain=chain) for index, amount in enumerate(amounts)]


def discount(coupon, basket, today=TODAY, **extra):
    return coupon_discount(coupon=coupon, customer_id=7, lines=basket, today=today, **extra)


def refusal(coupon, basket, today=TODAY, customer_id=7) -> str:
    with pytest.raises(CouponRefused) as refused:
        coupon_discount(coupon=coupon, customer_id=customer_id, lines=basket, today=today)
    return refused.value.code


def test_the_minimum_spend_is_reached_exactly_and_missed_by_a_fen():
    assert discount(terms(), lines("60.00", "40.00")) == D("20.00")
    assert refusal(terms(), lines("60.00", "39.99")) == "coupon_below_minimum"


def test_the_first_and_last_day_count_and_the_days_around_them_do_not():
    coupon = terms()
    assert discount(coupon, lines("100"), today=date(2026, 12, 1)) == D("20.00")
    assert discount(coupon, lines("100"), today=date(2026, 12, 31)) == D("20.00")
    assert refusal(coupon, lines("100"), today=date(2026, 11, 30)) == "coupon_not_started"
    assert refusal(coupon, lines("100"), today=date(2027, 1, 1)) == "coupon_expired"


def test_refusals_come_in_order_the_owner_first():
    wrong_everything = terms(is_active=False, held=True, valid_to=date(2026, 12, 1))
    assert refusal(wrong_everything, lines("1"), customer_id=8) == "coupon_not_yours"
    assert refusal(wrong_everything, lines("1")) == "coupon_disabled"
    assert refusal(terms(held=True, valid_to=date(2026, 12, 1)), lines("1")) == "coupon_used"
    assert refusal(terms(valid_to=date(2026, 12, 1)), lines("1")) == "coupon_expired"
    assert refusal(terms(category_ids=frozenset({99})), lines("1")) == "coupon_wrong_categories"
    assert refusal(terms(), lines("1")) == "coupon_below_minimum"


def test_percent_off_rounds_half_up_and_stops_at_its_cap():
    coupon = terms(kind="percent", amount_off=None, percent_off=D("15"), max_discount=D("30.00"), min_spend=D("0"))
    assert discount(coupon, lines("33.30")) == D("5.00")  # 4.995 → 5.00
    assert discount(coupon, lines("200.00")) == D("30.00")  # exactly the cap
    assert discount(coupon, lines("300.00")) == D("30.00")  # 45 capped


def test_the_discount_never_exceeds_the_eligible_amount_nor_leaves_nothing_to_pay():
    coupon = terms(amount_off=D("50.00"), min_spend=D("0"))
    assert discount(coupon, lines("30.00")) == D("30.00")
    assert discount(coupon, lines("30.00"), payable=D("30.00")) == D("29.99")  # WeChat Pay takes ≥ ¥0.01


def test_categories_match_the_line_category_or_its_parent():
    coupon = terms(category_ids=frozenset({1}), min_spend=D("100.00"))  # the aisle 1
    basket = [CouponLine(key=1, amount=D("80"), category_chain=(10, 1)),  # a shelf of aisle 1
              CouponLine(key=2, amount=D("30"), category_chain=(1,)),  # aisle 1 itself
              CouponLine(key=3, amount=D("500"), category_chain=(20, 2))]  # another aisle: not counted
    assert discount(coupon, basket) == D("20.00")
    assert coupon_allocate(discount=D("20.00"), coupon=coupon, lines=basket) == {1: D("14.55"), 2: D("5.45")}
    assert refusal(coupon, basket[:1] + basket[2:]) == "coupon_below_minimum"


@pytest.mark.parametrize("amounts, off", [
    (("0.01", "0.01", "99.98"), "20.00"), (("33.33", "33.33", "33.34"), "10.00"), (("5.00",), "5.00"),
    (("1.00", "2.00", "3.00", "4.00"), "9.99"),
])
def test_the_spread_adds_up_to_the_discount_and_no_line_gets_more_than_its_amount(amounts, off):
    basket = lines(*amounts)
    shares = coupon_allocate(discount=D(off), coupon=terms(min_spend=D("0")), lines=basket)
    assert sum(shares.values()) == D(off)
    assert all(D("0") < shares[line.key] <= line.amount for line in basket if line.key in shares)


def test_the_suggestion_is_the_largest_discount_then_the_earliest_expiry():
    coupons = [terms(id=1, amount_off=D("10.00")), terms(id=2, valid_to=date(2026, 12, 20)),
               terms(id=3, valid_to=date(2026, 12, 10)), terms(id=4, amount_off=D("80.00"), min_spend=D("500")),
               terms(id=5, amount_off=D("90.00"), customer_id=8)]
    options, best = coupon_options(coupons=coupons, customer_id=7, lines=lines("150.00"), today=TODAY)
    assert best.coupon.id == 3 and best.discount == D("20.00")
    assert [(o.coupon.id, o.refusal.code if o.refusal else None) for o in options][3:] == [
        (4, "coupon_below_minimum"), (5, "coupon_not_yours")]
    assert coupon_options(coupons=coupons[3:], customer_id=7, lines=lines("150.00"), today=TODAY)[1] is None


def test_a_coupons_status_for_the_list():
    assert coupon_status(terms(), TODAY) == "usable"
    assert coupon_status(terms(valid_from=date(2026, 12, 20)), TODAY) == "usable"  # not yet, but coming
    assert coupon_status(terms(held=True), TODAY) == "used"
    assert coupon_status(terms(valid_to=date(2026, 12, 6)), TODAY) == "expired"
    assert coupon_status(terms(is_active=False), TODAY) == "expired"
