"""Demo coupons: two templates (a 满减 for everyone, a 折扣 on the shrimp aisle) issued through the
product's own service to the first restaurants of rep01, so 我的优惠券, checkout's suggestion and
admin's 优惠券 pages have something to show. A template already there is left alone."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import Category
from coupons.models import CouponTemplate
from coupons.services import coupons_issue
from customers.models import Customer

from .base import DemoPlan, StepResult

RECIPIENTS = 30
TEMPLATES = (
    dict(name="满200减20", kind="amount", amount_off=Decimal("20.00"), min_spend=Decimal("200.00"),
         note="演示：全场满减"),
    dict(name="冻虾类9折券", kind="percent", percent_off=Decimal("10"), max_discount=Decimal("30.00"),
         min_spend=Decimal("100.00"), note="演示：限冻虾类，最多减 30 元"),
)


def coupons_seed(plan: DemoPlan) -> StepResult:
    today = timezone.localdate()  # valid around the real today (a plan's `now` may be a fixed past moment)
    recipients = list(Customer.objects.filter(rep__isnull=False).order_by("rep_id", "pk")
                      .values_list("pk", flat=True)[:RECIPIENTS])
    created = existing = 0
    for terms in TEMPLATES:
        if CouponTemplate.objects.filter(name=terms["name"]).exists():
            existing += 1
            continue
        template = CouponTemplate.objects.create(valid_from=today - timedelta(days=3),
                                                 valid_to=today + timedelta(days=60), **terms)
        if terms["kind"] == "percent":
            template.categories.set(Category.objects.filter(parent__isnull=True, name="冻虾类"))
        if recipients:
            coupons_issue(template_id=template.pk, customer_ids=recipients, audience=f"演示：{len(recipients)} 位客户",
                          issued_by="demo")
        created += 1
    return StepResult("优惠券", created, existing)
