"""`bench/checkout.py --coupon-share F`: a share F of the bench orders carry a coupon.

Each bench restaurant is issued enough single-use coupons for the run from one template: 5% off
capped at ¥20, no minimum, limited to the pool SKUs' shelves (so the category list is read and
every pool line is eligible). Every order whose running count crosses a multiple of 1/F sends
the next unused coupon; the others send none. A coupon is never sent twice, so none is refused as
used; the run's unpaid orders are cancelled at the end, which gives their coupons back.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

NAME = "压测折扣券"


def coupons_needed(*, share: float, seconds: float, rounds: int) -> int:
    """Coupons per restaurant: generous (60 orders/s per client) so a fast run never runs out."""
    return 0 if share <= 0 else min(20000, math.ceil(share * 60 * seconds * rounds) + 10)


def issue_bench_coupons(*, customer_ids: list[int], pool_product_ids: list[int], per_customer: int
                        ) -> dict[int, list[int]]:
    """Fresh coupons for each restaurant: {customer_id: [coupon ids]} (bulk rows: bench set-up)."""
    from django.utils import timezone

    from catalog.models import Product
    from coupons.models import Coupon, CouponIssue, CouponTemplate

    if per_customer <= 0:
        return {pk: [] for pk in customer_ids}
    today = timezone.localdate()
    template, _ = CouponTemplate.objects.update_or_create(name=NAME, defaults=dict(
        kind="percent", amount_off=None, percent_off=Decimal("5"), max_discount=Decimal("20.00"),
        min_spend=Decimal("0"), valid_from=today - timedelta(days=1), valid_to=today + timedelta(days=30),
        per_customer_limit=32000, is_active=True))
    template.categories.set(set(Product.objects.filter(pk__in=pool_product_ids).values_list("category_id", flat=True)))
    Coupon.objects.filter(template=template, redemptions__isnull=True).delete()  # unused ones of earlier runs
    issues = CouponIssue.objects.bulk_create([CouponIssue(template=template, audience=f"压测第 {n + 1} 批",
                                                          issued_by="bench", issued_count=len(customer_ids))
                                              for n in range(per_customer)])
    coupons = Coupon.objects.bulk_create([Coupon(template=template, customer_id=pk, issue=issue)
                                          for issue in issues for pk in customer_ids], batch_size=5000)
    issued: dict[int, list[int]] = {pk: [] for pk in customer_ids}
    for coupon in coupons:
        issued[coupon.customer_id].append(coupon.pk)
    return issued


def coupon_chooser(share: float, coupon_ids: list[int]):
    """A callable for one client: the next coupon id for every 1/share-th order, else None."""
    supply = iter(coupon_ids)
    count = 0

    def next_coupon():
        nonlocal count
        count += 1
        if share <= 0 or math.floor(count * share) == math.floor((count - 1) * share):
            return None
        return next(supply, None)

    return next_coupon
