"""Checkout: the only way an order is born. Prices, fees and totals are the server's.

Read top to bottom: `order_place` validates the request, then in one transaction
checkout_store.snapshot_read takes the locks and reads, checkout_rules.checkout_decide decides
(every rule of checkout, pure), and checkout_store.order_write writes the plan with the COMMIT.
This module owns what surrounds them: parsing the request, retries, idempotency.
"""

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings as django_settings
from django.db import IntegrityError
from django.utils import timezone

from catalog.models import Cart
from catalog.pricing import buyer_of, cart_totals
from catalog.selectors import cart_lines
from catalog.services import parse_quantity
from core.errors import ApplicationError, InsufficientStock, ValidationFailed
from core.inputs import has_control_characters
from core.money import money
from core.sql import PreparedStatementLost, Transaction
from coupons.rules import CouponRefused
from customers.models import Visitor

from ..models import Order, OrderSettings
from . import checkout_conflicts as conflicts
from . import checkout_store as store
from .checkout_rules import (  # noqa: F401 - part of this module's API
    BasketLine,
    BelowMinimumOrder,
    CartNotReady,
    DeliveryDetails,
    PhoneRequired,
    checkout_decide,
    delivery_date_for,
    delivery_fee_for,
)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
# GCJ-02 coordinates of mainland China, roughly; anything outside is a broken pin.
LAT_RANGE = (Decimal("3.8"), Decimal("53.6"))
LNG_RANGE = (Decimal("73.5"), Decimal("135.1"))


class DeliveryInput(DeliveryDetails):
    """Delivery details from a checkout request, validated."""

    @classmethod
    def parse(cls, data: dict) -> "DeliveryInput":
        errors = {}

        def text(name, label, low, high, required=True):
            raw = data.get(name)
            if raw is not None and not isinstance(raw, str):
                errors[name] = f"{label}格式不正确"
                return ""
            value = (raw or "").strip()
            if has_control_characters(value):
                errors[name] = f"{label}含有不可见的控制字符，请删除后重试"
            elif required and not value:
                errors[name] = f"请填写{label}"
            elif len(value) > high or (value and len(value) < low):
                errors[name] = f"{label}须为 {low}-{high} 个字符"
            return value

        def coordinate(name, label, bounds):
            raw = data.get(name)
            try:
                value = Decimal(str(raw))
                if not value.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError, TypeError):
                errors[name] = f"请在地图上标记收货位置（{label}无效）"
                return Decimal("0")
            if not bounds[0] <= value <= bounds[1]:
                # Refused before quantizing: 1e30 to 6 places would overflow the decimal context.
                errors[name] = f"{label}超出范围，请重新标记收货位置"
                return Decimal("0")
            return value.quantize(Decimal("0.000001"))

        parsed = cls(
            restaurant_name=text("restaurant_name", "餐厅名称", 2, 80),
            contact_name=text("contact_name", "收货人", 1, 40),
            address=text("address", "详细地址", 5, 200),
            latitude=coordinate("latitude", "纬度", LAT_RANGE),
            longitude=coordinate("longitude", "经度", LNG_RANGE),
            district=text("district", "区", 0, 20, required=False),
            note=text("note", "备注", 0, 200, required=False),
        )
        if errors:
            raise ValidationFailed(next(iter(errors.values())), code="invalid_delivery", details=errors)
        return parsed


@dataclass(frozen=True)
class Quote:
    lines: list
    subtotal: Decimal
    delivery_fee: Decimal
    total: Decimal
    min_order_amount: Decimal
    delivery_date: date
    problems: list[str]


def order_quote(*, visitor: Visitor, now: datetime | None = None) -> Quote:
    """What checkout would charge right now (for the confirmation page), by the same rules."""
    cart = Cart.objects.filter(visitor=visitor).first()
    customer = visitor.customer if visitor.customer_id else None
    rules = OrderSettings.current()
    lines = cart_lines(cart=cart)
    total, problems = cart_totals(lines=lines, buyer=buyer_of(customer))
    subtotal = money(total)
    fee = delivery_fee_for(subtotal=subtotal, rules=rules)
    return Quote(
        lines=lines, subtotal=subtotal, delivery_fee=fee, total=money(subtotal + fee),
        min_order_amount=money(rules.min_order_amount),
        delivery_date=delivery_date_for(moment=now or timezone.now(), settings_row=rules), problems=problems,
    )


def _new_order_number(moment: datetime) -> str:
    # Date first so staff can read it; 8 random digits make a clash rare, the unique index certain.
    return timezone.localtime(moment).strftime("%y%m%d") + f"{secrets.randbelow(10**8):08d}"


class _NumberClash(Exception):
    """Two orders drew the same random number: the transaction is retried as a whole."""


def parse_basket(raw) -> list[BasketLine]:
    """The `lines` of a checkout request: what the buyer confirmed on the checkout page.

    [{"product_id": 12, "quantity": "2.5"}, ...], each product once, at most CART_MAX_LINES.
    """
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("请选择要购买的商品", code="invalid_lines")
    if len(raw) > django_settings.CART_MAX_LINES:
        raise ValidationFailed(f"一次最多结算 {django_settings.CART_MAX_LINES} 种商品", code="invalid_lines")
    lines, seen = [], set()
    for item in raw:
        product_id = item.get("product_id") if isinstance(item, dict) else None
        if isinstance(product_id, bool) or not isinstance(product_id, int) or not 0 < product_id < 2**31:
            raise ValidationFailed("商品编号不正确", code="invalid_lines")
        if product_id in seen:
            raise ValidationFailed("同一商品只能出现一次", code="invalid_lines")
        seen.add(product_id)
        lines.append(BasketLine(product_id=product_id, quantity=parse_quantity(item.get("quantity"))))
    return lines


def parse_coupon(raw) -> int | None:
    """The `coupon_id` of a checkout request: a coupon's id, or null/absent for none."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 2**63:
        raise ValidationFailed("优惠券编号不正确", code="invalid_coupon")
    return raw


def order_place(*, visitor: Visitor | int, idempotency_key: str, delivery: DeliveryInput,
                lines: list[BasketLine] | None = None, now: datetime | None = None,
                coupon_id: int | None = None) -> tuple[Order, bool]:
    """Turn what the buyer confirmed into an order awaiting payment. Returns (order, created).

    `lines` is the basket the buyer confirmed on the checkout page (see parse_basket); the order
    is exactly that and those products leave the cart. Without it, the whole cart is ordered.
    `visitor` may be a Visitor or just its id (the API passes the id from the token).
    `coupon_id`: the coupon the buyer chose (see parse_coupon), checked by checkout_decide; a
    coupon that another order took meanwhile is refused (CouponRefused), nothing written.

    One transaction (see the module's docstring): read under lock, decide, write and commit; a
    double tap waits for the visitor's lock and then finds the first order by its idempotency
    key. WeChat Pay is called after commit. A new order comes back with its lines, payment and
    first event in memory, ready to show.
    """
    if not IDEMPOTENCY_KEY.match(idempotency_key or ""):
        raise ValidationFailed("缺少或无效的幂等键（8-64 位字母数字）", code="invalid_idempotency_key")
    visitor_id = visitor if isinstance(visitor, int) else visitor.pk
    contended = False
    for attempt in range(4):
        try:
            return _order_place(visitor_id=visitor_id, idempotency_key=idempotency_key, delivery=delivery,
                                basket=lines, now=now or timezone.now(), contended=contended, coupon_id=coupon_id)
        except store.VisitorBusy:
            contended = True  # another checkout of this visitor is running: wait for it, then look again
        except PreparedStatementLost:
            pass  # nothing was written; the statements are prepared again on the next attempt
        except _NumberClash:
            if attempt == 3:
                raise ApplicationError("生成订单号失败，请重试", code="order_number_exhausted")
    raise ApplicationError("下单繁忙，请重试", code="checkout_busy")


def _order_place(*, visitor_id: int, idempotency_key: str, delivery: DeliveryInput,
                 basket: list[BasketLine] | None, now: datetime, contended: bool,
                 coupon_id: int | None) -> tuple[Order, bool]:
    number = _new_order_number(now)
    try:
        # BEGIN travels with the first read and COMMIT with the writes (core.sql.Transaction).
        with Transaction() as tx:
            snapshot = store.snapshot_read(tx, visitor_id=visitor_id, idempotency_key=idempotency_key,
                                           basket=basket, contended=contended, now=now, coupon_id=coupon_id)
            if isinstance(snapshot, uuid.UUID):
                placed = snapshot
            else:
                plan = checkout_decide(snapshot, delivery)
                placed = store.order_write(tx, snapshot=snapshot, plan=plan, number=number,
                                           idempotency_key=idempotency_key)
    except IntegrityError as error:
        broken = conflicts.unique_violation(error, visitor_id=visitor_id, idempotency_key=idempotency_key, number=number,
                                        coupon_id=coupon_id)
        if broken == "number":
            raise _NumberClash() from error
        if broken == "coupon" and conflicts.order_made_with(visitor_id=visitor_id, idempotency_key=idempotency_key) is None:
            # Another order took the coupon between this checkout's read (which saw it free) and
            # its write: nothing of this order was written. (A double tap's twin is its own order.)
            raise CouponRefused("优惠券已被其他订单使用", code="coupon_used") from error
        if broken not in ("idempotency", "coupon"):
            raise
        # The same key committed its order between this statement's snapshot and its lock.
        placed = conflicts.order_made_with(visitor_id=visitor_id, idempotency_key=idempotency_key)
        if placed is None:
            raise
    except (CartNotReady, InsufficientStock, BelowMinimumOrder, ValidationFailed, CouponRefused):
        # A refusal may only mean that a double tap's twin committed the order (and emptied the
        # cart, took the stock) just before this one took the visitor's lock: it reads in its own
        # statement's snapshot. Then this tap gets that order, not an error. Refusals only: free
        # on the path of a normal order.
        placed = conflicts.order_made_with(visitor_id=visitor_id, idempotency_key=idempotency_key)
        if placed is None:
            raise
    if isinstance(placed, uuid.UUID):  # this key already made an order: that order, as it is now
        return Order.objects.select_related("payment", "visitor").get(pk=placed), False
    return placed, True
