"""The rules of a coupon, pure (no database, no clock of its own): whether a coupon can be used on
a basket, the discount it gives, how that discount is spread over the lines, and which coupon
to suggest. Checkout (orders.services.checkout_rules.checkout_decide), the checkout preview and
the customer's coupon list all decide through these.

1. A coupon is refused, with nothing changed, when it is not the buyer's (coupon_not_yours),
   its template is switched off (coupon_disabled), an order already holds it (coupon_used),
   today in Shanghai is before its first day (coupon_not_started) or after its last
   (coupon_expired), the basket has nothing in its categories (coupon_wrong_categories), or the
   eligible amount is below its minimum spend (coupon_below_minimum). Checked in that order.
2. The eligible amount is the sum of the basket lines whose category, or the category's parent,
   is one of the template's; a template without categories takes every line.
3. 满减: the amount off. 折扣: percent × eligible amount, rounded half up to the fen, at most the
   cap. Never more than the eligible amount, and never so much that the order would cost
   nothing (WeChat Pay takes at least ¥0.01): at most subtotal + delivery fee − ¥0.01.
4. The discount is spread over the eligible lines in proportion to their amounts, rounded down
   to the fen, the fen left over going to the largest lines first; no line gets more than its
   amount. Refunds prorate from amount − share (orders.rules.line_refundable).
5. The suggestion: among the buyer's coupons that can be used on this basket, the largest
   discount; a tie goes to the one that expires first, then the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from core.errors import ApplicationError
from core.money import money

FEN = Decimal("0.01")


class CouponRefused(ApplicationError):
    code = "coupon_not_usable"
    status_code = 409
    default_message = "该优惠券不能用于本单"


@dataclass(frozen=True)
class CouponTerms:
    """One issued coupon with its template's terms, as checkout (or a list) read it."""

    id: int
    customer_id: int
    name: str
    kind: str  # CouponTemplate.Kind
    amount_off: Decimal | None
    percent_off: Decimal | None
    max_discount: Decimal | None
    min_spend: Decimal
    valid_from: date
    valid_to: date
    is_active: bool
    category_ids: frozenset[int] = frozenset()  # empty: every category
    held: bool = False  # an order holds it (an unreleased redemption)


@dataclass(frozen=True)
class CouponLine:
    """A basket line as a coupon sees it: its amount and its category, then the category's parent."""

    key: int  # the product id
    amount: Decimal
    category_chain: tuple[int, ...]


def _day(value: date) -> str:
    return f"{value.month}月{value.day}日"


def eligible_lines(coupon: CouponTerms, lines) -> list[CouponLine]:
    if not coupon.category_ids:
        return list(lines)
    return [line for line in lines if coupon.category_ids.intersection(line.category_chain)]


def coupon_discount(*, coupon: CouponTerms, customer_id: int, lines, today: date,
                    payable: Decimal | None = None) -> Decimal:
    """The discount this coupon gives this buyer on these lines today, or CouponRefused (rules 1-3).
    `payable`: subtotal + delivery fee, which the discount must leave at least ¥0.01 of."""
    if coupon.customer_id != customer_id:
        raise CouponRefused("这张优惠券不属于您", code="coupon_not_yours")
    if not coupon.is_active:
        raise CouponRefused(f"优惠券「{coupon.name}」已停用", code="coupon_disabled")
    if coupon.held:
        raise CouponRefused(f"优惠券「{coupon.name}」已被使用", code="coupon_used")
    if today < coupon.valid_from:
        raise CouponRefused(f"优惠券「{coupon.name}」{_day(coupon.valid_from)}起可用", code="coupon_not_started",
                            details={"valid_from": coupon.valid_from.isoformat()})
    if today > coupon.valid_to:
        raise CouponRefused(f"优惠券「{coupon.name}」已于{_day(coupon.valid_to)}过期", code="coupon_expired",
                            details={"valid_to": coupon.valid_to.isoformat()})
    eligible = eligible_lines(coupon, lines)
    if not eligible:
        raise CouponRefused(f"本单没有优惠券「{coupon.name}」适用品类的商品", code="coupon_wrong_categories")
    base = money(sum((line.amount for line in eligible), Decimal("0")))
    if base < coupon.min_spend:
        scope = "适用商品" if coupon.category_ids else "商品"
        raise CouponRefused(f"优惠券「{coupon.name}」需{scope}满 ¥{coupon.min_spend}，还差 ¥{coupon.min_spend - base}",
                            code="coupon_below_minimum",
                            details={"min_spend": str(coupon.min_spend), "eligible_amount": str(base)})
    if coupon.kind == "percent":
        off = (base * coupon.percent_off / 100).quantize(FEN, rounding=ROUND_HALF_UP)
        off = min(off, coupon.max_discount)
    else:
        off = coupon.amount_off
    off = min(off, base)
    if payable is not None:
        off = min(off, payable - FEN)
    return money(max(off, Decimal("0")))


def coupon_allocate(*, discount: Decimal, coupon: CouponTerms, lines) -> dict[int, Decimal]:
    """The discount spread over the eligible lines by amount (rule 4): line key -> share."""
    eligible = [line for line in eligible_lines(coupon, lines) if line.amount > 0]
    base = sum((line.amount for line in eligible), Decimal("0"))
    if discount <= 0 or base <= 0:
        return {}
    shares = {line.key: min((discount * line.amount / base).quantize(FEN, rounding=ROUND_DOWN), line.amount)
              for line in eligible}
    left = discount - sum(shares.values(), Decimal("0"))
    for line in sorted(eligible, key=lambda line: (-line.amount, line.key)):
        if left <= 0:
            break
        extra = min(left, line.amount - shares[line.key])
        shares[line.key] += extra
        left -= extra
    return {key: share for key, share in shares.items() if share > 0}


def coupon_status(coupon: CouponTerms, today: date) -> str:
    """usable (including not yet started), used, or expired (past its last day, or switched off)."""
    if coupon.held:
        return "used"
    if today > coupon.valid_to or not coupon.is_active:
        return "expired"
    return "usable"


@dataclass(frozen=True)
class CouponOption:
    coupon: CouponTerms
    discount: Decimal  # 0 when refused
    refusal: CouponRefused | None


def coupon_options(*, coupons, customer_id: int, lines, today: date,
                   payable: Decimal | None = None) -> tuple[list[CouponOption], CouponOption | None]:
    """Every coupon the buyer holds against this basket, and the suggestion (rule 5)."""
    lines = list(lines)
    options = []
    for coupon in coupons:
        try:
            options.append(CouponOption(coupon, coupon_discount(coupon=coupon, customer_id=customer_id, lines=lines,
                                                                today=today, payable=payable), None))
        except CouponRefused as refusal:
            options.append(CouponOption(coupon, Decimal("0.00"), refusal))
    usable = [option for option in options if option.refusal is None and option.discount > 0]
    best = min(usable, key=lambda o: (-o.discount, o.coupon.valid_to, o.coupon.id), default=None)
    return options, best
