"""Reads of coupons: a customer's coupons (mini-site 我的 → 优惠券) and the options at checkout."""

from datetime import date
from decimal import Decimal

from django.db.models import Exists, OuterRef, Prefetch, Subquery
from django.utils import timezone

from catalog.models import Category, Product

from .models import Coupon, CouponRedemption
from .rules import CouponLine, CouponTerms, coupon_options, coupon_status


def _held():
    return CouponRedemption.objects.filter(coupon=OuterRef("pk"), released_at__isnull=True)


def terms_of(coupon: Coupon) -> CouponTerms:
    """A coupon loaded by `customer_coupons` as the rules see it."""
    template = coupon.template
    return CouponTerms(
        id=coupon.pk, customer_id=coupon.customer_id, name=template.name, kind=template.kind,
        amount_off=template.amount_off, percent_off=template.percent_off, max_discount=template.max_discount,
        min_spend=template.min_spend, valid_from=template.valid_from, valid_to=template.valid_to,
        is_active=template.is_active, category_ids=frozenset(c.pk for c in template.categories.all()),
        held=coupon.held)


def customer_coupons(*, customer_id) -> list[Coupon]:
    """Every coupon of the customer, each with `held`, `used_order_number` and its template's
    categories: three queries, whatever the count."""
    held = _held()
    return list(
        Coupon.objects.filter(customer_id=customer_id or 0)
        .select_related("template")
        .prefetch_related(Prefetch("template__categories", queryset=Category.objects.order_by("id")))
        .annotate(held=Exists(held), used_order_number=Subquery(held.values("order__number")[:1]),
                  used_at=Subquery(held.values("created_at")[:1]))
        .order_by("template__valid_to", "id"))


def coupon_wallet(*, customer_id, today: date | None = None) -> dict[str, list]:
    """我的优惠券: usable (soonest to expire first), used, expired (latest first)."""
    today = today or timezone.localdate()
    wallet = {"usable": [], "used": [], "expired": []}
    for coupon in customer_coupons(customer_id=customer_id):
        coupon.status = coupon_status(terms_of(coupon), today)
        wallet[coupon.status].append(coupon)
    wallet["used"].sort(key=lambda c: c.used_at, reverse=True)
    wallet["expired"].reverse()
    return wallet


def basket_coupon_lines(lines) -> list[CouponLine]:
    """Basket lines [(product_id, amount)] with their categories (one query)."""
    lines = list(lines)
    chains = {pk: (category, parent) for pk, category, parent in
              Product.objects.filter(pk__in=[pk for pk, _ in lines])
              .values_list("pk", "category_id", "category__parent_id")}
    return [CouponLine(key=pk, amount=amount, category_chain=tuple(c for c in chains.get(pk, ()) if c))
            for pk, amount in lines]


def checkout_coupons(*, customer_id, lines, payable: Decimal, today: date | None = None):
    """The customer's current coupons against a basket [(product_id, amount)]:
    ([(coupon, CouponOption)], the suggested CouponOption or None). Coupons used or past their
    last day are left out; four queries at most, whatever the count."""
    today = today or timezone.localdate()
    if not customer_id:
        return [], None
    loaded = {coupon.pk: coupon for coupon in customer_coupons(customer_id=customer_id)}
    terms = [t for t in map(terms_of, loaded.values()) if coupon_status(t, today) == "usable"]
    if not terms:
        return [], None
    options, best = coupon_options(coupons=terms, customer_id=customer_id, lines=basket_coupon_lines(lines),
                                   today=today, payable=payable)
    return [(loaded[option.coupon.id], option) for option in options], best

