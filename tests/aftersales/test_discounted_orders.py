"""Refunds of an order bought with a coupon are prorated from what was paid for each line
(orders.rules.line_refundable: charged less the line's share of the discount), so the customer
never gets back more than they paid, however the claims are cut."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from aftersales.decisions import APPROVE, Decision, goodwill_refund, request_decide
from aftersales.selectors import order_aftersales
from aftersales.services import request_create
from core.errors import ApplicationError
from orders.models import Order, OrderLine, Payment, Refund
from orders.rules import line_refundable

from .conftest import make_delivered_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return User.objects.create_user("kefu-coupon", is_staff=True)


@pytest.fixture
def discounted(world):
    """The world's order (702.00) bought with ¥70.20 off, allocated to its lines by amount:
    shrimp 18.20 of 182.00, fish 40.00 of 400.00, scallop 12.00 of 120.00. Paid 631.80; 20.00
    went back at packing (the fish weighed 19 of 20 斤)."""
    order = world.order
    for line, share in ((world.shrimp_line, "18.20"), (world.fish_line, "40.00"), (world.scallop_line, "12.00")):
        OrderLine.objects.filter(pk=line.pk).update(discount=Decimal(share))
        line.refresh_from_db()
    Order.objects.filter(pk=order.pk).update(discount=Decimal("70.20"), total=Decimal("631.80"))
    Payment.objects.filter(order=order).update(amount_fen=63180)
    order.refresh_from_db()
    return world


def _refunded(world) -> Decimal:
    return sum(Refund.objects.filter(order=world.order).exclude(status=Refund.Status.FAILED)
               .values_list("amount", flat=True), Decimal("0"))


def test_a_line_refundable_value_is_what_was_paid_for_it():
    line = OrderLine(amount=Decimal("182.00"), discount=Decimal("18.20"))
    assert line_refundable(line) == Decimal("163.80")
    line.actual_amount = Decimal("150.00")  # packed short: what it was charged, less its discount
    assert line_refundable(line) == Decimal("131.80")
    line.actual_amount = Decimal("10.00")  # packed almost nothing: never below zero
    assert line_refundable(line) == Decimal("0.00")
    assert line_refundable(OrderLine(amount=Decimal("99.99"))) == Decimal("99.99")


def test_a_claim_on_a_discounted_line_is_prorated(discounted):
    request = request_create(customer_id=discounted.customer.pk, order_id=discounted.order.pk, reason="damaged",
                             lines=[{"line_id": discounted.shrimp_line.pk, "quantity": "2"}])
    assert request.claimed_amount == Decimal("81.90")  # half of 163.80, not half of 182.00
    rows = {row["line_id"]: row for row in order_aftersales(customer_id=discounted.customer.pk,
                                                            order_id=discounted.order.pk)["lines"]}
    assert rows[discounted.fish_line.pk]["refundable_amount"] == Decimal("340.00")  # 380.00 packed − 40.00


def test_refunding_everything_gives_back_exactly_what_was_paid_and_no_more(discounted, staff):
    request = request_create(customer_id=discounted.customer.pk, order_id=discounted.order.pk, reason="damaged",
                             lines=[{"line_id": line.pk, "quantity": str(line.quantity)} for line in
                                    (discounted.shrimp_line, discounted.fish_line, discounted.scallop_line)])
    assert request.claimed_amount == Decimal("611.80")  # 163.80 + 340.00 + 108.00
    request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="written_off"))
    assert _refunded(discounted) == Decimal("631.80") == discounted.order.total  # 20.00 at packing + 611.80

    with pytest.raises(ApplicationError) as refused:
        goodwill_refund(order_id=discounted.order.pk, user=staff, amount="0.01", message="再补一分")
    assert refused.value.code == "refund_exceeds_paid"
    assert _refunded(discounted) == Decimal("631.80")


def test_claims_cut_one_unit_at_a_time_never_add_up_to_more_than_was_paid(discounted, staff):
    """Rounding each small claim half up must not creep above the paid total: every claim is
    capped at what is left of its line's refundable value."""
    for line in (discounted.shrimp_line, discounted.scallop_line):
        for _ in range(int(line.quantity) + 1):  # one more claim than there are units
            try:
                request = request_create(customer_id=discounted.customer.pk, order_id=discounted.order.pk,
                                         reason="damaged", lines=[{"line_id": line.pk, "quantity": "1"}])
            except ApplicationError:
                break  # nothing left to claim on the line
            request_decide(request_id=request.pk, user=staff, decision=Decision(kind=APPROVE, goods="written_off"))
    paid = Decimal(discounted.order.payment.amount_fen) / 100
    assert _refunded(discounted) <= paid
    assert _refunded(discounted) == Decimal("20.00") + Decimal("163.80") + Decimal("108.00")
