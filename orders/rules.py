"""Rules about an order's money that several apps share (after-sales, cancelling or reducing a
paid order, refunds). One home each; callers never recompute them."""

from decimal import Decimal

from core.money import money


def line_refundable(line) -> Decimal:
    """What the customer really paid for an order line, so the most that refunds of it may give
    back in all: what the line was charged (its packed, catch-weight amount once packed) less its
    share of the order's discount (`OrderLine.discount`, a coupon allocated to lines at checkout),
    never below zero. A claim on part of the line is prorated from this (aftersales.rules.claim_value).

    With every line refunded in full the customer gets back Σ(charged − discount) ≤ subtotal −
    discount ≤ what was paid: a discounted order never refunds more than was paid for it.
    """
    charged = line.actual_amount if line.actual_amount is not None else line.amount
    return max(money(charged - (line.discount or Decimal("0"))), Decimal("0.00"))
