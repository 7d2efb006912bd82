"""Coupons against the orders tests' world: the buyer 湘味小馆, shrimp (¥45.50 a bag) and squid
(¥18.50 a 斤), checkout rules (minimum ¥100, fee ¥10 below ¥300)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import Coupon, CouponRedemption, CouponTemplate
from coupons.services import coupons_issue
from tests.orders.conftest import _dev_keys, buyer, customer, delivery, rules, shrimp, squid  # noqa: F401


def template(**terms) -> CouponTemplate:
    """满 ¥100 减 ¥20, valid from yesterday to a week ahead (Shanghai days), unless told otherwise."""
    today = timezone.localdate()
    categories = terms.pop("categories", ())
    values = dict(name="满100减20", kind="amount", amount_off=Decimal("20.00"), min_spend=Decimal("100.00"),
                  valid_from=today - timedelta(days=1), valid_to=today + timedelta(days=7))
    if terms.get("kind") == "percent":
        values.update(amount_off=None, percent_off=Decimal("10"), max_discount=Decimal("50.00"), name="九折券")
    values.update(terms)
    row = CouponTemplate.objects.create(**values)
    row.categories.set(categories)
    return row


def give(customer, row: CouponTemplate | None = None, **terms) -> Coupon:
    row = row or template(**terms)
    issue = coupons_issue(template_id=row.pk, customer_ids=[customer.pk], audience=customer.name, issued_by="test")
    return Coupon.objects.get(issue=issue, customer=customer)


def held(coupon) -> bool:
    return CouponRedemption.objects.filter(coupon=coupon, released_at__isnull=True).exists()


__all__ = ["date", "give", "held", "template"]
