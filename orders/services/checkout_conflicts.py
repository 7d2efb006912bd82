"""What a failed checkout write means: which of checkout's unique rules it broke, and whether the
visitor's order with this idempotency key exists (checkout_store writes; this reads its failures).

A failed write is classified by the constraint it broke, never by an error message's text.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError

from ..models import Order, Payment
from . import checkout_coupons as coupon_sql

# What a broken unique constraint means to checkout (names from orders.models).
IDEMPOTENCY_CONSTRAINT = "order_unique_idempotency_key"
NUMBER_CONSTRAINTS = ("order_unique_number", "payment_unique_out_trade_no")


def order_made_with(*, visitor_id: int, idempotency_key: str) -> uuid.UUID | None:
    return (Order.objects.filter(visitor_id=visitor_id, idempotency_key=idempotency_key)
            .values_list("pk", flat=True).first())


def unique_violation(error: IntegrityError, *, visitor_id: int, idempotency_key: str, number: str,
                     coupon_id: int | None = None) -> str | None:
    """Which of checkout's unique rules a failed write broke: "idempotency" (the same key
    committed its order between this statement's snapshot and its lock), "number" (two orders
    drew the same random number), "coupon" (another order took the coupon after this one read
    it free), or None (something else: not checkout's to handle).

    PostgreSQL names the constraint; SQLite does not, so there the database is asked which of
    the two rows now exists.
    """
    constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
    if constraint is not None:
        if constraint == IDEMPOTENCY_CONSTRAINT:
            return "idempotency"
        if constraint == coupon_sql.HELD_CONSTRAINT:
            return "coupon"
        return "number" if constraint in NUMBER_CONSTRAINTS else None
    if order_made_with(visitor_id=visitor_id, idempotency_key=idempotency_key) is not None:
        return "idempotency"
    if Order.objects.filter(number=number).exists() or Payment.objects.filter(out_trade_no=number).exists():
        return "number"
    if coupon_id is not None and coupon_sql.coupon_held(coupon_id):
        return "coupon"
    return None
