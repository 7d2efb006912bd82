"""Checkout: the only way an order is born. Prices, fees and totals are the server's."""

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Cart, CartLine
from catalog.pricing import line_total, unit_price_for
from catalog.selectors import cart_lines
from catalog.serializers import cart_totals
from core.errors import ApplicationError, ValidationFailed
from core.money import money, to_fen
from customers.models import Customer, Visitor
from logistics.services import stock_reserve

from ..models import Order, OrderEvent, OrderLine, OrderSettings, Payment

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
# GCJ-02 coordinates of mainland China, roughly; anything outside is a broken pin.
LAT_RANGE = (Decimal("3.8"), Decimal("53.6"))
LNG_RANGE = (Decimal("73.5"), Decimal("135.1"))


class PhoneRequired(ApplicationError):
    code = "phone_required"
    status_code = 403
    default_message = "请先授权手机号后再下单"


class BelowMinimumOrder(ApplicationError):
    code = "below_minimum_order"
    default_message = "未达到起送金额"


class CartNotReady(ApplicationError):
    code = "cart_not_ready"
    status_code = 409
    default_message = "购物车中有商品无法下单"


@dataclass(frozen=True)
class DeliveryInput:
    restaurant_name: str
    contact_name: str
    address: str
    latitude: Decimal
    longitude: Decimal
    district: str = ""
    note: str = ""

    @classmethod
    def parse(cls, data: dict) -> "DeliveryInput":
        errors = {}

        def text(name, label, low, high, required=True):
            value = str(data.get(name) or "").strip()
            if required and not value:
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
                errors[name] = f"{label}超出范围，请重新标记收货位置"
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


def delivery_date_for(*, moment: datetime, settings_row: OrderSettings) -> date:
    """Next day if ordered before the cut-off in Shanghai time, otherwise the day after.

    Compared in the warehouse's local time, never UTC: 23:30 in Shenzhen is 15:30 UTC.
    """
    local = timezone.localtime(moment)
    days = 1 if local.time() < settings_row.cutoff_time else 2
    return local.date() + timedelta(days=days)


@dataclass(frozen=True)
class Quote:
    lines: list
    subtotal: Decimal
    delivery_fee: Decimal
    total: Decimal
    min_order_amount: Decimal
    delivery_date: date
    problems: list[str]


def _quote(*, lines, customer, settings_row: OrderSettings, now: datetime) -> Quote:
    total, problems = cart_totals(lines=lines, customer=customer)
    subtotal = money(total)
    fee = Decimal("0.00") if subtotal >= settings_row.free_delivery_threshold else money(settings_row.delivery_fee)
    return Quote(
        lines=lines, subtotal=subtotal, delivery_fee=fee, total=money(subtotal + fee),
        min_order_amount=money(settings_row.min_order_amount),
        delivery_date=delivery_date_for(moment=now, settings_row=settings_row), problems=problems,
    )


def order_quote(*, visitor: Visitor, now: datetime | None = None) -> Quote:
    """What checkout would charge right now (for the confirmation page)."""
    cart = Cart.objects.filter(visitor=visitor).first()
    customer = visitor.customer if visitor.customer_id else None
    return _quote(lines=cart_lines(cart=cart), customer=customer, settings_row=OrderSettings.current(),
                  now=now or timezone.now())


def _new_order_number(moment: datetime) -> str:
    # Date first so staff can read it; 8 random digits make a clash rare, the unique index certain.
    return timezone.localtime(moment).strftime("%y%m%d") + f"{secrets.randbelow(10**8):08d}"


class _NumberClash(Exception):
    """Two orders drew the same random number: the transaction is retried as a whole."""


def _create_order_row(**fields) -> Order:
    # No savepoint around the insert: a clash (rare: 8 random digits a day) aborts the whole
    # checkout transaction, which order_place then runs again with a new number.
    try:
        return Order.objects.create(number=_new_order_number(fields["expires_at"]), **fields)
    except IntegrityError as error:
        if "number" in str(error):
            raise _NumberClash() from error
        raise


def order_place(*, visitor: Visitor, idempotency_key: str, delivery: DeliveryInput,
                now: datetime | None = None) -> tuple[Order, bool]:
    """Turn the visitor's cart into an order awaiting payment. Returns (order, created).

    One transaction: lock the visitor (so a double tap waits, then finds the first order),
    price the cart on the server, check the minimum, reserve stock, write the order, its lines,
    its payment row and the first event, empty the cart. WeChat Pay is called after commit.
    A new order comes back with its lines, payment and first event in memory, ready to show.
    """
    if not IDEMPOTENCY_KEY.match(idempotency_key or ""):
        raise ValidationFailed("缺少或无效的幂等键（8-64 位字母数字）", code="invalid_idempotency_key")
    for attempt in range(3):
        try:
            return _order_place(visitor=visitor, idempotency_key=idempotency_key, delivery=delivery, now=now)
        except _NumberClash:
            if attempt == 2:
                raise ApplicationError("生成订单号失败，请重试", code="order_number_exhausted")
    raise AssertionError("unreachable")


def _order_place(*, visitor: Visitor, idempotency_key: str, delivery: DeliveryInput,
                 now: datetime | None) -> tuple[Order, bool]:
    now = now or timezone.now()
    settings_row = OrderSettings.current()
    with transaction.atomic():
        locked = Visitor.objects.select_for_update(of=("self",)).select_related("customer").get(pk=visitor.pk)
        existing = Order.objects.filter(visitor=locked, idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
        customer: Customer | None = locked.customer
        if customer is None:
            raise PhoneRequired()

        cart = Cart.objects.filter(visitor=locked).first()
        lines = cart_lines(cart=cart)
        if not lines:
            raise CartNotReady("购物车是空的", code="cart_empty")
        quote = _quote(lines=lines, customer=customer, settings_row=settings_row, now=now)
        if quote.problems:
            raise CartNotReady("；".join(quote.problems), details={"problems": quote.problems})
        if quote.subtotal < quote.min_order_amount:
            raise BelowMinimumOrder(
                f"商品金额 ¥{quote.subtotal} 未达到起送金额 ¥{quote.min_order_amount}，还差 ¥{quote.min_order_amount - quote.subtotal}",
                details={"subtotal": str(quote.subtotal), "min_order_amount": str(quote.min_order_amount)},
            )

        order = _create_order_row(
            customer=customer, visitor=locked, rep_id=customer.rep_id, idempotency_key=idempotency_key,
            delivery_date=quote.delivery_date, subtotal=quote.subtotal, delivery_fee=quote.delivery_fee,
            total=quote.total, restaurant_name=delivery.restaurant_name, contact_name=delivery.contact_name,
            phone=customer.phone, address=delivery.address, district=delivery.district,
            latitude=delivery.latitude, longitude=delivery.longitude, note=delivery.note,
            expires_at=now + timedelta(minutes=settings_row.payment_timeout_minutes),
        )
        stock_reserve(
            items={line.product_id: line.quantity for line in lines},
            reference=order.number,
            labels={line.product_id: line.product.name for line in lines},
        )
        order_lines = []
        for line in lines:
            product = line.product
            price = unit_price_for(product=product, customer=customer)
            order_lines.append(OrderLine(
                order=order, product=product, product_code=product.code, product_name=product.name,
                spec=product.spec, unit=product.unit, unit_price=price, quantity=line.quantity,
                amount=line_total(unit_price=price, quantity=line.quantity), catch_weight=product.catch_weight,
                nominal_weight=product.nominal_weight,
            ))
        OrderLine.objects.bulk_create(order_lines)
        payment = Payment.objects.create(order=order, out_trade_no=order.number, amount_fen=to_fen(order.total))
        event = OrderEvent.objects.create(order=order, to_status=order.status, actor="customer", note="提交订单")
        CartLine.objects.filter(cart=cart).delete()
        Customer.objects.filter(pk=customer.pk).update(
            name=delivery.restaurant_name, contact_name=delivery.contact_name, address=delivery.address,
            district=delivery.district or customer.district, latitude=delivery.latitude,
            longitude=delivery.longitude, updated_at=now,
        )
    # What a fresh order's page shows is all in memory: no need to read it back.
    order.payment, order.visitor = payment, locked
    order._prefetched_objects_cache = {"lines": order_lines, "events": [event], "refunds": []}
    order.customer_messages = []
    return order, True
