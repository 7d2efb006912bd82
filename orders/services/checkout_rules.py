"""Checkout's rules, decided on a snapshot: no database, no request, no clock of its own.

`checkout_decide(snapshot, delivery)` returns the `Plan` of an order or raises the refusal. The
snapshot is everything checkout read under its locks (checkout_store): who is buying, the basket,
each product with its price, flags and stock left, the ordering rules and the moment. In order:

1. A visitor without a restaurant (no phone authorised yet) cannot order: PhoneRequired.
2. Ordering the cart, an empty cart is refused (cart_empty).
3. Each basket line, in the buyer's order: a product id that does not exist is refused at once
   when the buyer named it (product_not_found); one that exists but was never stocked, or is
   off sale (catalog.rules.orderable: product, category and aisle all on), is a problem; the
   quantity must meet the product's minimum, step and maximum (catalog.rules.quantity_validate,
   raised at once); a quantity above the stock left is a shortfall.
4. Any problem refuses the whole basket (CartNotReady, every problem named, shortfalls after
   them); shortfalls alone refuse it as InsufficientStock, naming what is left of each.
5. Each line is priced for this buyer (catalog.pricing.price_quote: the customer's price list as
   read under the locks, on the day of `now` in Shanghai), amounts rounded to fen; each line keeps
   the list price and the price list that made its price. The subtotal must reach the minimum
   order (BelowMinimumOrder says how much is missing).
6. Delivery is free from the threshold up, otherwise the fee; the total is subtotal + fee.
7. A coupon, when the buyer chose one (at most one per order): an id that does not exist is
   refused (coupon_not_found); otherwise coupons.rules decides whether it may be used on these
   lines today in Shanghai (the buyer's own, switched on, not held by another order, within its
   dates, the right categories, the minimum spend: each refusal names the reason), the discount,
   and its share on each line. The total is subtotal + fee − discount, at least ¥0.01.
8. Delivery date: the next day when ordered before the cut-off in Shanghai time, else the day
   after (`delivery_date_for`); payment is due `payment_timeout_minutes` after now.
9. Stock is reserved per stock row, the basket's quantities; the restaurant's delivery details
   are updated only when they changed (what the next checkout pre-fills).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import Product
from catalog.pricing import Buyer, PriceBook, line_total, price_quote
from catalog.rules import orderable, quantity_validate, stock_left_label
from core.errors import ApplicationError, InsufficientStock, NotFound, ValidationFailed
from core.money import money
from coupons.rules import CouponLine, CouponTerms, coupon_allocate, coupon_discount


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
class BasketLine:
    """One line the buyer asks for: a product and a quantity in its sale unit."""

    product_id: int
    quantity: Decimal


@dataclass(frozen=True)
class DeliveryDetails:
    """Where the goods go (validated by checkout.DeliveryInput.parse)."""

    restaurant_name: str
    contact_name: str
    address: str
    latitude: Decimal
    longitude: Decimal
    district: str = ""
    note: str = ""


@dataclass(frozen=True)
class CustomerSnapshot:
    """The restaurant as checkout read it: who it is, its rep, and its delivery details."""

    id: int
    rep_id: int | None
    phone: str
    name: str
    contact_name: str
    address: str
    district: str
    latitude: Decimal | None
    longitude: Decimal | None
    price_list_id: int | None = None

    @property
    def buyer(self) -> Buyer:
        return Buyer(customer_id=self.id, price_list_id=self.price_list_id)


@dataclass(frozen=True)
class ProductSnapshot:
    """A product as checkout read it, under the lock of its stock row."""

    id: int
    code: str
    name: str
    spec: str
    unit: str
    price: Decimal
    min_quantity: Decimal
    step_quantity: Decimal
    catch_weight: bool
    nominal_weight: Decimal | None
    product_active: bool
    category_active: bool
    parent_active: bool | None  # None: a top-level category
    stock_id: int
    available: Decimal
    category_chain: tuple[int, ...] = ()  # its category, then the category's parent (pricing)

    @property
    def orderable(self) -> bool:
        return orderable(product_active=self.product_active, category_active=self.category_active,
                         parent_active=self.parent_active)

    def get_unit_display(self) -> str:
        return Product.Unit(self.unit).label


@dataclass(frozen=True)
class OrderRules:
    """下单规则 (orders.OrderSettings) as read with the visitor."""

    cutoff_time: time
    min_order_amount: Decimal
    delivery_fee: Decimal
    free_delivery_threshold: Decimal
    payment_timeout_minutes: int


@dataclass(frozen=True)
class CheckoutSnapshot:
    visitor_id: int
    openid: str
    customer: CustomerSnapshot | None
    basket: tuple[BasketLine, ...]
    explicit: bool  # the buyer confirmed these lines; otherwise the basket is the whole cart
    products: dict[int, ProductSnapshot]  # the basket's products that have a stock row
    unstocked: dict[int, str | None]  # basket ids without a stock row -> product name (None: no such product)
    rules: OrderRules
    now: datetime
    prices: PriceBook | None = None  # the customer's price list and its entries for the basket
    coupon_id: int | None = None  # the coupon the buyer chose
    coupon: CouponTerms | None = None  # that coupon as read (None: no such coupon)


@dataclass(frozen=True)
class PlannedLine:
    product: ProductSnapshot
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    list_price: Decimal | None = None
    price_list_id: int | None = None
    price_list_name: str = ""
    discount: Decimal = Decimal("0.00")  # the line's share of the coupon's discount


@dataclass(frozen=True)
class Plan:
    customer: CustomerSnapshot
    lines: tuple[PlannedLine, ...]
    subtotal: Decimal
    delivery_fee: Decimal
    discount: Decimal
    total: Decimal
    delivery_date: date
    expires_at: datetime
    reservations: dict[int, Decimal]  # stock row id -> units, in basket order
    delivery: DeliveryDetails
    details_changed: bool  # the restaurant's saved delivery details differ from this order's
    district: str  # the district the restaurant keeps (this order's, or the one it had)
    coupon_id: int | None = None  # the coupon this order uses


def delivery_date_for(*, moment: datetime, settings_row) -> date:
    """Next day if ordered before the cut-off in Shanghai time, otherwise the day after.

    Compared in the warehouse's local time, never UTC: 23:30 in Shenzhen is 15:30 UTC.
    `settings_row` is anything with a `cutoff_time` (OrderSettings, OrderRules).
    """
    local = timezone.localtime(moment)
    days = 1 if local.time() < settings_row.cutoff_time else 2
    return local.date() + timedelta(days=days)


def change_deadline_for(*, delivery_date: date, settings_row) -> datetime:
    """The cut-off an order for `delivery_date` belongs to: the cut-off time, in Shanghai, on the day
    before delivery. Until then a paid order may be changed or cancelled; from then on the
    warehouse buys and packs for it. The inverse of delivery_date_for: a moment is before this
    deadline exactly when an order placed at that moment would be delivered on `delivery_date` or
    later (tests/orders/test_changes.py holds the two to each other at the edges).
    """
    day_before = delivery_date - timedelta(days=1)
    return timezone.make_aware(datetime.combine(day_before, settings_row.cutoff_time))


def delivery_fee_for(*, subtotal: Decimal, rules) -> Decimal:
    """Free from the threshold up, otherwise the fee."""
    return Decimal("0.00") if subtotal >= rules.free_delivery_threshold else money(rules.delivery_fee)


def _check_basket(snapshot: CheckoutSnapshot) -> None:
    problems, short = [], []
    for line in snapshot.basket:
        product = snapshot.products.get(line.product_id)
        if product is None:
            name = snapshot.unstocked.get(line.product_id)
            if name is None and snapshot.explicit:
                raise ValidationFailed(f"商品不存在（编号 {line.product_id}）", code="product_not_found",
                                       details={"product_id": line.product_id})
            problems.append(f"{name}：缺货")  # a product never stocked
            continue
        if not product.orderable:
            problems.append(f"{product.name}：已下架")
            continue
        quantity_validate(product=product, quantity=line.quantity)
        if line.quantity > product.available:
            short.append((product, stock_left_label(available=product.available,
                                                    unit_label=product.get_unit_display())))
    if problems:
        problems += [f"{product.name}：库存不足，{left}" for product, left in short]
        raise CartNotReady("；".join(problems), details={"problems": problems})
    if short:
        raise InsufficientStock(
            "库存不足：" + "、".join(f"{product.name}（{left}）" for product, left in short),
            details={"lines": [{"product_id": product.id, "available": str(product.available)}
                               for product, _ in short]},
        )


def checkout_decide(snapshot: CheckoutSnapshot, delivery: DeliveryDetails) -> Plan:
    """The order this snapshot makes, or the refusal (see the module's rules, in that order)."""
    customer = snapshot.customer
    if customer is None:
        raise PhoneRequired()
    if not snapshot.explicit and not snapshot.basket:
        raise CartNotReady("购物车是空的", code="cart_empty")
    _check_basket(snapshot)

    buyer, rules = customer.buyer, snapshot.rules
    today = timezone.localdate(snapshot.now)
    lines = []
    for line in snapshot.basket:
        product = snapshot.products[line.product_id]
        quote = price_quote(product=product, buyer=buyer, book=snapshot.prices, today=today)
        lines.append(PlannedLine(product=product, quantity=line.quantity, unit_price=quote.price,
                                 amount=line_total(unit_price=quote.price, quantity=line.quantity),
                                 list_price=quote.list_price, price_list_id=quote.price_list_id,
                                 price_list_name=quote.price_list_name))
    subtotal = money(sum((line.amount for line in lines), Decimal("0")))
    minimum = money(rules.min_order_amount)
    if subtotal < minimum:
        raise BelowMinimumOrder(
            f"商品金额 ¥{subtotal} 未达到起送金额 ¥{minimum}，还差 ¥{minimum - subtotal}",
            details={"subtotal": str(subtotal), "min_order_amount": str(minimum)},
        )
    fee = delivery_fee_for(subtotal=subtotal, rules=rules)
    discount = Decimal("0.00")
    if snapshot.coupon_id is not None:
        discount, lines = _apply_coupon(snapshot, customer, lines, today=today, payable=subtotal + fee)
    district = delivery.district or customer.district
    saved = (customer.name, customer.contact_name, customer.address, customer.district,
             customer.latitude, customer.longitude)
    return Plan(
        customer=customer, lines=tuple(lines), subtotal=subtotal, delivery_fee=fee, discount=discount,
        total=money(subtotal + fee - discount), delivery_date=delivery_date_for(moment=snapshot.now, settings_row=rules),
        expires_at=snapshot.now + timedelta(minutes=rules.payment_timeout_minutes),
        reservations={line.product.stock_id: line.quantity for line in lines}, delivery=delivery,
        details_changed=saved != (delivery.restaurant_name, delivery.contact_name, delivery.address, district,
                                  delivery.latitude, delivery.longitude),
        district=district, coupon_id=snapshot.coupon_id,
    )


def _apply_coupon(snapshot: CheckoutSnapshot, customer: CustomerSnapshot, lines: list[PlannedLine], *,
                  today: date, payable: Decimal) -> tuple[Decimal, list[PlannedLine]]:
    """The coupon's discount on the priced lines and the lines with their shares (rule 7)."""
    coupon = snapshot.coupon
    if coupon is None:
        raise NotFound("优惠券不存在", code="coupon_not_found", details={"coupon_id": snapshot.coupon_id})
    seen = [CouponLine(key=line.product.id, amount=line.amount, category_chain=line.product.category_chain)
            for line in lines]
    discount = coupon_discount(coupon=coupon, customer_id=customer.id, lines=seen, today=today, payable=payable)
    shares = coupon_allocate(discount=discount, coupon=coupon, lines=seen)
    return discount, [replace(line, discount=shares[line.product.id]) if line.product.id in shares else line
                      for line in lines]
