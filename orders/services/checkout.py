"""Checkout: the only way an order is born. Prices, fees and totals are the server's."""

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.conf import settings as django_settings
from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone

from catalog.models import Cart, CartLine, Category, Product
from catalog.pricing import line_total, unit_price_for
from catalog.selectors import cart_lines
from catalog.serializers import cart_totals
from catalog.services import parse_quantity, quantity_validate
from core.errors import ApplicationError, InsufficientStock, NotAuthenticated, ValidationFailed
from core.money import money, to_fen
from core.sql import (
    Prepared,
    PreparedStatementLost,
    StatementBatch,
    Transaction,
    column,
    insert_statement,
    parameter_type,
    prep,
    table,
    written_instance,
)
from customers.models import Customer, Visitor
from logistics.models import Stock
from logistics.services import stock_reservation_ctes, stock_reservation_statements

from ..models import Order, OrderEvent, OrderLine, OrderSettings, Payment

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: FOR UPDATE NOWAIT found the row locked
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
            raw = data.get(name)
            if raw is not None and not isinstance(raw, str):
                errors[name] = f"{label}格式不正确"
                return ""
            value = (raw or "").strip()
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


@dataclass(frozen=True)
class BasketLine:
    """One line the buyer asks for: a product and a quantity in its sale unit."""

    product_id: int
    quantity: Decimal


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


@dataclass
class _Sku:
    """A product as checkout reads it, under the lock of its stock row."""

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
    orderable: bool
    stock_id: int
    available: Decimal

    def get_unit_display(self) -> str:
        return Product.Unit(self.unit).label


def _decimal6(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.000001"))


def _decimal(value) -> Decimal | None:
    # PostgreSQL hands back Decimal; SQLite a float or an int for a NUMERIC column.
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.01"))


@lru_cache(maxsize=None)
def _visitor_sql(vendor: str, nowait: bool) -> str:
    v, c, o, r = table(Visitor), table(Customer), table(Order), table(OrderSettings)
    lock = ""
    if connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF v" + (" NOWAIT" if nowait and connection.features.has_select_for_update_nowait else "")
    return (
        f"SELECT v.{column(Visitor, 'openid')}, v.{column(Visitor, 'customer_id')}, c.{column(Customer, 'rep_id')}, "
        f"c.{column(Customer, 'phone')}, c.{column(Customer, 'district')}, o.{column(Order, 'id')}, "
        f"c.{column(Customer, 'name')}, c.{column(Customer, 'contact_name')}, c.{column(Customer, 'address')}, "
        f"c.{column(Customer, 'latitude')}, c.{column(Customer, 'longitude')}, "
        f"r.{column(OrderSettings, 'id')}, r.{column(OrderSettings, 'cutoff_time')}, "
        f"r.{column(OrderSettings, 'min_order_amount')}, r.{column(OrderSettings, 'delivery_fee')}, "
        f"r.{column(OrderSettings, 'free_delivery_threshold')}, r.{column(OrderSettings, 'payment_timeout_minutes')} "
        f"FROM {v} v LEFT JOIN {c} c ON c.{column(Customer, 'id')} = v.{column(Visitor, 'customer_id')} "
        f"LEFT JOIN {o} o ON o.{column(Order, 'visitor_id')} = v.{column(Visitor, 'id')} "
        f"AND o.{column(Order, 'idempotency_key')} = %s "
        f"LEFT JOIN {r} r ON r.{column(OrderSettings, 'id')} = 1 "
        f"WHERE v.{column(Visitor, 'id')} = %s{lock}"
    )


@lru_cache(maxsize=None)
def _visitor_statement(vendor: str, nowait: bool) -> Prepared:
    return Prepared(f"checkout_visitor_{'nowait' if nowait else 'wait'}", _visitor_sql(vendor, nowait),
                    ("varchar", "bigint"))


@lru_cache(maxsize=None)
def _sku_statement(vendor: str) -> Prepared:
    return Prepared("checkout_skus", _sku_sql(vendor, "= ANY(%s)"), ("boolean", "bigint[]"))


@lru_cache(maxsize=512)
def _sku_sql(vendor: str, ids_condition: str) -> str:
    p, cat, s = table(Product), table(Category), table(Stock)
    lock = ""
    if connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF s"
    elif connection.features.has_select_for_update:
        lock = " FOR UPDATE"
    fields = ", ".join(f"p.{column(Product, name)}" for name in (
        "id", "code", "name", "spec", "unit", "price", "min_quantity", "step_quantity", "catch_weight",
        "nominal_weight"))
    active = column(Category, "is_active")
    return (
        f"SELECT {fields}, (p.{column(Product, 'is_active')} AND c.{active} AND COALESCE(pc.{active}, %s)), "
        f"s.{column(Stock, 'id')}, s.{column(Stock, 'on_hand')} - s.{column(Stock, 'reserved')} "
        f"FROM {p} p JOIN {cat} c ON c.{column(Category, 'id')} = p.{column(Product, 'category_id')} "
        f"LEFT JOIN {cat} pc ON pc.{column(Category, 'id')} = c.{column(Category, 'parent_id')} "
        f"JOIN {s} s ON s.{column(Stock, 'product_id')} = p.{column(Product, 'id')} "
        f"WHERE p.{column(Product, 'id')} {ids_condition} "
        f"ORDER BY p.{column(Product, 'id')}{lock}"
    )


_VISITOR_COLUMNS = 17  # what _visitor_sql selects


@lru_cache(maxsize=None)
def _visitor_and_skus_statement(vendor: str) -> Prepared:
    """The visitor (locked NOWAIT) and the basket's products (stock rows locked in product order)
    in one round trip: one row per product found, or one row with empty product columns."""
    return Prepared(
        "checkout_visitor_skus",
        f"SELECT * FROM ({_visitor_sql(vendor, True)}) vq LEFT JOIN ({_sku_sql(vendor, '= ANY(%s)')}) sq ON TRUE",
        ("varchar", "bigint", "boolean", "bigint[]"),
    )


def _lock_skus(tx: Transaction, product_ids: list[int]) -> dict[int, _Sku]:
    """Products with their available stock, stock rows locked in product order (no deadlocks)."""
    ids = sorted(product_ids)
    if connection.vendor == "postgresql":  # one plan for every basket size
        tx.execute_prepared(_sku_statement(connection.vendor), [True, ids])
    else:
        tx.execute(_sku_sql(connection.vendor, f"IN ({', '.join(['%s'] * len(ids))})"), [True, *ids])
    return _skus_from_rows(tx.cursor.fetchall())


def _skus_from_rows(rows) -> dict[int, _Sku]:
    skus = {}
    for row in rows:
        (pk, code, name, spec, unit, price, min_q, step_q, catch, nominal, orderable, stock_id, available) = row
        if pk is None:  # the visitor's row without products (none of the ids exists)
            continue
        skus[pk] = _Sku(pk, code, name, spec, unit, _decimal(price), _decimal(min_q), _decimal(step_q), bool(catch),
                        _decimal(nominal), bool(orderable), stock_id, _decimal(available))
    return skus


def _cart_basket(tx: Transaction, visitor_id: int) -> list[BasketLine]:
    tx.execute(
        f"SELECT l.{column(CartLine, 'product_id')}, l.{column(CartLine, 'quantity')} FROM {table(CartLine)} l "
        f"JOIN {table(Cart)} c ON c.{column(Cart, 'id')} = l.{column(CartLine, 'cart_id')} "
        f"WHERE c.{column(Cart, 'visitor_id')} = %s ORDER BY l.{column(CartLine, 'id')}",
        [visitor_id],
    )
    return [BasketLine(product_id=pk, quantity=_decimal(quantity)) for pk, quantity in tx.cursor.fetchall()]


def _settings_from_row(row) -> OrderSettings:
    settings_id, cutoff, min_amount, fee, threshold, timeout = row
    if settings_id is None:
        return OrderSettings.current()  # the row is created on first use
    if isinstance(cutoff, str):  # SQLite
        cutoff = time.fromisoformat(cutoff)
    return OrderSettings(pk=settings_id, cutoff_time=cutoff, min_order_amount=_decimal(min_amount),
                         delivery_fee=_decimal(fee), free_delivery_threshold=_decimal(threshold),
                         payment_timeout_minutes=timeout)


def _check_basket(basket: list[BasketLine], skus: dict[int, _Sku], *, explicit: bool) -> None:
    """Refuse what cannot be ordered as asked, naming the product: unknown, off sale, rules, stock."""
    problems, short = [], []
    for line in basket:
        sku = skus.get(line.product_id)
        if sku is None:
            if explicit and not Product.objects.filter(pk=line.product_id).exists():
                raise ValidationFailed(f"商品不存在（编号 {line.product_id}）", code="product_not_found",
                                       details={"product_id": line.product_id})
            name = Product.objects.filter(pk=line.product_id).values_list("name", flat=True).first()
            problems.append(f"{name}：缺货")  # a product never stocked
            continue
        if not sku.orderable:
            problems.append(f"{sku.name}：已下架")
            continue
        quantity_validate(product=sku, quantity=line.quantity)
        if line.quantity > sku.available:
            left = (f"剩余 {sku.available.normalize():f} {sku.get_unit_display()}" if sku.available > 0
                    else "已售罄")
            short.append((sku, left))
    if problems:
        problems += [f"{sku.name}：库存不足，{left}" for sku, left in short]
        raise CartNotReady("；".join(problems), details={"problems": problems})
    if short:
        raise InsufficientStock(
            "库存不足：" + "、".join(f"{sku.name}（{left}）" for sku, left in short),
            details={"lines": [{"product_id": sku.id, "available": str(sku.available)} for sku, _ in short]},
        )


def order_place(*, visitor: Visitor | int, idempotency_key: str, delivery: DeliveryInput,
                lines: list[BasketLine] | None = None, now: datetime | None = None) -> tuple[Order, bool]:
    """Turn what the buyer confirmed into an order awaiting payment. Returns (order, created).

    `lines` is the basket the buyer confirmed on the checkout page (see parse_basket); the order
    is exactly that and those products leave the cart. Without it, the whole cart is ordered.
    `visitor` may be a Visitor or just its id (the API passes the id from the token).

    One transaction, a handful of round trips: lock the visitor (so a double tap waits, then finds
    the first order by its idempotency key) reading the customer and the ordering rules with it;
    lock the lines' stock rows in product order and read the products with them; check and price
    everything on the server; then one batch writes the order, its lines, the reservation and its
    ledger rows, the payment row and the first event, trims the cart and keeps the restaurant's
    delivery details. WeChat Pay is called after commit. A new order comes back with its lines,
    payment and first event in memory, ready to show.
    """
    if not IDEMPOTENCY_KEY.match(idempotency_key or ""):
        raise ValidationFailed("缺少或无效的幂等键（8-64 位字母数字）", code="invalid_idempotency_key")
    visitor_id = visitor if isinstance(visitor, int) else visitor.pk
    contended = False
    for attempt in range(4):
        try:
            return _order_place(visitor_id=visitor_id, idempotency_key=idempotency_key, delivery=delivery,
                                basket=lines, now=now or timezone.now(), contended=contended)
        except _VisitorBusy:
            contended = True  # another checkout of this visitor is running: wait for it, then look again
        except PreparedStatementLost:
            pass  # nothing was written; the statements are prepared again on the next attempt
        except _NumberClash:
            if attempt == 3:
                raise ApplicationError("生成订单号失败，请重试", code="order_number_exhausted")
    raise ApplicationError("下单繁忙，请重试", code="checkout_busy")


_ORDER_FIELDS = (
    "id", "number", "customer_id", "visitor_id", "rep_id", "status", "idempotency_key", "delivery_date", "subtotal",
    "delivery_fee", "discount", "total", "restaurant_name", "contact_name", "phone", "address", "district",
    "latitude", "longitude", "note", "expires_at", "cancel_reason", "created_at", "updated_at",
)
_LINE_FIELDS = ("order_id", "product_id", "product_code", "product_name", "spec", "unit", "unit_price", "quantity",
                "amount", "catch_weight", "nominal_weight")
_PAYMENT_FIELDS = ("order_id", "out_trade_no", "amount_fen", "status", "payer_openid", "created_at", "updated_at")
_EVENT_FIELDS = ("order_id", "from_status", "to_status", "note", "actor", "created_at")


@lru_cache(maxsize=256)
def _cart_trim_sql(vendor: str, count: int) -> str:
    return (f"DELETE FROM {table(CartLine)} WHERE {column(CartLine, 'cart_id')} IN "
            f"(SELECT {column(Cart, 'id')} FROM {table(Cart)} WHERE {column(Cart, 'visitor_id')} = %s) "
            f"AND {column(CartLine, 'product_id')} IN ({', '.join(['%s'] * count)})")


@lru_cache(maxsize=None)
def _customer_details_sql(vendor: str) -> str:
    return (f"UPDATE {table(Customer)} SET {column(Customer, 'name')} = %s, "
            f"{column(Customer, 'contact_name')} = %s, {column(Customer, 'address')} = %s, "
            f"{column(Customer, 'district')} = %s, {column(Customer, 'latitude')} = %s, "
            f"{column(Customer, 'longitude')} = %s, {column(Customer, 'updated_at')} = %s "
            f"WHERE {column(Customer, 'id')} = %s")


# The order row's own values, named as its fields; "now" stands for created_at and updated_at.
_ORDER_VALUES = tuple(f for f in _ORDER_FIELDS if f not in ("created_at", "updated_at"))
# One array per column of the order's lines, in basket order.
_LINE_ARRAYS = _LINE_FIELDS[1:]


@lru_cache(maxsize=None)
def _write_statement(vendor: str) -> Prepared:
    """Every write of a checkout as ONE prepared PostgreSQL statement, whatever the basket's size:
    the order, the stock reservation and its ledger rows (logistics' own SQL), the lines (arrays
    unnested in basket order), the payment row, the first event, and the cart trimmed of what
    was ordered. PostgreSQL parses and plans it once per connection; a plain batch of the same
    INSERTs was parsed, analysed and planned on every checkout, which cost more than running it.

    The parts of a WITH run as one statement on one snapshot; the foreign keys between them
    (lines -> order) are checked at COMMIT, as Django declares them deferrable.
    """
    types = {name: parameter_type(Order, name) for name in _ORDER_VALUES}
    types["now"] = parameter_type(Order, "created_at")
    types.update({f"line_{name}": parameter_type(OrderLine, name, array=True) for name in _LINE_ARRAYS})
    types.update(stock_ids="bigint[]", stock_units=parameter_type(OrderLine, "quantity", array=True),
                 amount_fen=parameter_type(Payment, "amount_fen"), payment_status=parameter_type(Payment, "status"),
                 event_note=parameter_type(OrderEvent, "note"), event_actor=parameter_type(OrderEvent, "actor"))

    def columns(model, names):
        return ", ".join(column(model, name) for name in names)

    order_values = ", ".join("%(now)s" if f in ("created_at", "updated_at") else f"%({f})s" for f in _ORDER_FIELDS)
    unnest = ", ".join(f"%(line_{name})s" for name in _LINE_ARRAYS)
    parts = [
        f"new_order AS (INSERT INTO {table(Order)} ({columns(Order, _ORDER_FIELDS)}) VALUES ({order_values}))",
        *stock_reservation_ctes(stock_ids="%(stock_ids)s", units="%(stock_units)s", reference="%(number)s",
                                now="%(now)s"),
        f"new_lines AS (INSERT INTO {table(OrderLine)} ({columns(OrderLine, _LINE_FIELDS)}) "
        f"SELECT %(id)s, {', '.join(f'l.{name}' for name in _LINE_ARRAYS)} "
        f"FROM unnest({unnest}) WITH ORDINALITY AS l({', '.join(_LINE_ARRAYS)}, n) ORDER BY l.n)",
        f"new_payment AS (INSERT INTO {table(Payment)} ({columns(Payment, _PAYMENT_FIELDS)}) "
        f"VALUES (%(id)s, %(number)s, %(amount_fen)s, %(payment_status)s, '', %(now)s, %(now)s))",
        f"new_event AS (INSERT INTO {table(OrderEvent)} ({columns(OrderEvent, _EVENT_FIELDS)}) "
        f"VALUES (%(id)s, '', %(status)s, %(event_note)s, %(event_actor)s, %(now)s))",
        f"cart_trimmed AS (DELETE FROM {table(CartLine)} WHERE {column(CartLine, 'cart_id')} IN "
        f"(SELECT {column(Cart, 'id')} FROM {table(Cart)} WHERE {column(Cart, 'visitor_id')} = %(visitor_id)s) "
        f"AND {column(CartLine, 'product_id')} = ANY(%(line_product_id)s))",
    ]
    return Prepared.named("checkout_write", "WITH " + ",\n".join(parts) + "\nSELECT 1", types)


# The `order` foreign key of each row written with an order, to attach the order to them in memory.
_ORDER_OF = {model: model._meta.get_field("order") for model in (OrderLine, Payment, OrderEvent)}


class _VisitorBusy(Exception):
    """The visitor's row is locked by another checkout (a double tap, a second device)."""


def _order_place(*, visitor_id: int, idempotency_key: str, delivery: DeliveryInput,
                 basket: list[BasketLine] | None, now: datetime, contended: bool) -> tuple[Order, bool]:
    try:
        # BEGIN travels with the first read and COMMIT with the writes (core.sql.Transaction).
        with Transaction() as tx:
            placed = _place(tx, visitor_id=visitor_id, idempotency_key=idempotency_key, delivery=delivery,
                            basket=basket, now=now, contended=contended)
    except IntegrityError as error:
        if "idempotency" in str(error):
            # The same key committed its order between this statement's snapshot and its lock.
            placed = _order_made_with(visitor_id=visitor_id, idempotency_key=idempotency_key)
            if placed is None:
                raise
        # Otherwise only the order number can clash (8 random digits a day): run it all again.
        elif "number" in str(error) or "out_trade_no" in str(error):
            raise _NumberClash() from error
        else:
            raise
    except (CartNotReady, InsufficientStock, BelowMinimumOrder, ValidationFailed):
        # A refusal may only mean that a double tap's twin committed the order (and emptied the
        # cart, took the stock) just before this one took the visitor's lock: it reads in its own
        # statement's snapshot. Then this tap gets that order, not an error. Refusals only: free
        # on the path of a normal order.
        placed = _order_made_with(visitor_id=visitor_id, idempotency_key=idempotency_key)
        if placed is None:
            raise
    if isinstance(placed, uuid.UUID):  # this key already made an order: that order, as it is now
        return Order.objects.select_related("payment", "visitor").get(pk=placed), False
    return placed, True


def _order_made_with(*, visitor_id: int, idempotency_key: str) -> uuid.UUID | None:
    return (Order.objects.filter(visitor_id=visitor_id, idempotency_key=idempotency_key)
            .values_list("pk", flat=True).first())


def _place(tx: Transaction, *, visitor_id: int, idempotency_key: str, delivery: DeliveryInput,
           basket: list[BasketLine] | None, now: datetime, contended: bool) -> "Order | uuid.UUID":
    """The checkout transaction's work; returns the new order, or the id of the one this key made."""
    # Normally nobody else holds this visitor: take the lock without waiting. If someone does,
    # wait for the lock and then read again: in READ COMMITTED only a new statement sees the
    # order the other checkout has just committed under this idempotency key.
    params = [idempotency_key, visitor_id]
    if connection.vendor == "postgresql":
        _write_statement(connection.vendor).ensure(tx.cursor)  # once per connection, before BEGIN
    # The usual case, a confirmed basket on PostgreSQL: visitor and products in one round trip.
    together = basket is not None and not contended and connection.vendor == "postgresql"
    skus = None
    try:
        if together:
            tx.execute_prepared(_visitor_and_skus_statement(connection.vendor),
                                [*params, True, sorted(line.product_id for line in basket)])
        else:
            tx.execute_prepared(_visitor_statement(connection.vendor, not contended), params)
    except OperationalError as error:
        if getattr(error.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise _VisitorBusy() from error
        raise
    if together:
        rows = tx.cursor.fetchall()
        row = rows[0][:_VISITOR_COLUMNS] if rows else None
        skus = _skus_from_rows(r[_VISITOR_COLUMNS:] for r in rows)
    else:
        if contended:
            tx.execute_prepared(_visitor_statement(connection.vendor, False), params)
        row = tx.cursor.fetchone()
    if row is None:
        raise NotAuthenticated("登录已失效，请重新进入", code="authentication_failed")
    openid, customer_id, rep_id, phone, district, existing_id = row[:6]
    profile = (row[6], row[7], row[8], district, _decimal6(row[9]), _decimal6(row[10]))
    if existing_id is not None:
        return existing_id if isinstance(existing_id, uuid.UUID) else uuid.UUID(str(existing_id))
    if customer_id is None:
        raise PhoneRequired()
    rules = _settings_from_row(row[11:])

    explicit = basket is not None
    if not explicit:
        basket = _cart_basket(tx, visitor_id)
        if not basket:
            raise CartNotReady("购物车是空的", code="cart_empty")
    if skus is None:
        skus = _lock_skus(tx, [line.product_id for line in basket])
    _check_basket(basket, skus, explicit=explicit)

    customer = written_instance(Customer, {"id": customer_id, "rep_id": rep_id, "phone": phone, "district": district})
    priced = []
    for line in basket:
        sku = skus[line.product_id]
        price = unit_price_for(product=sku, customer=customer)
        priced.append((sku, line.quantity, price, line_total(unit_price=price, quantity=line.quantity)))
    subtotal = money(sum((amount for *_, amount in priced), Decimal("0")))
    minimum = money(rules.min_order_amount)
    if subtotal < minimum:
        raise BelowMinimumOrder(
            f"商品金额 ¥{subtotal} 未达到起送金额 ¥{minimum}，还差 ¥{minimum - subtotal}",
            details={"subtotal": str(subtotal), "min_order_amount": str(minimum)},
        )
    fee = Decimal("0.00") if subtotal >= rules.free_delivery_threshold else money(rules.delivery_fee)

    # The rows about to be written, as the model instances the caller gets back (built directly:
    # Model.__init__ for ten instances is a measurable share of a checkout's Python).
    order = written_instance(Order, dict(
        id=uuid.uuid4(), number=_new_order_number(now), customer_id=customer_id, visitor_id=visitor_id,
        rep_id=rep_id, status=Order.Status.PENDING_PAYMENT, idempotency_key=idempotency_key,
        delivery_date=delivery_date_for(moment=now, settings_row=rules), subtotal=subtotal,
        delivery_fee=fee, discount=Decimal("0.00"), total=money(subtotal + fee),
        restaurant_name=delivery.restaurant_name, contact_name=delivery.contact_name, phone=phone,
        address=delivery.address, district=delivery.district, latitude=delivery.latitude,
        longitude=delivery.longitude, note=delivery.note,
        expires_at=now + timedelta(minutes=rules.payment_timeout_minutes), paid_at=None, cancelled_at=None,
        cancel_reason="", created_at=now, updated_at=now,
    ))
    order_lines = [
        written_instance(OrderLine, dict(
            order_id=order.id, product_id=sku.id, product_code=sku.code, product_name=sku.name, spec=sku.spec,
            unit=sku.unit, unit_price=price, quantity=quantity, amount=amount, catch_weight=sku.catch_weight,
            nominal_weight=sku.nominal_weight))
        for sku, quantity, price, amount in priced
    ]
    payment = written_instance(Payment, dict(
        order_id=order.id, out_trade_no=order.number, amount_fen=to_fen(order.total), status=Payment.Status.CREATED,
        payer_openid="", created_at=now, updated_at=now))
    event = written_instance(OrderEvent, dict(order_id=order.id, from_status="", to_status=order.status,
                                              note="提交订单", actor="customer", created_at=now))

    batch = StatementBatch()
    reservations = {sku.stock_id: quantity for sku, quantity, *_ in priced}
    if connection.vendor == "postgresql":
        write = _write_statement(connection.vendor)
        values = {f: getattr(order, f) for f in _ORDER_VALUES}
        values.update({f"line_{f}": [getattr(line, f) for line in order_lines] for f in _LINE_ARRAYS})
        values.update(now=now, stock_ids=list(reservations), stock_units=list(reservations.values()),
                      amount_fen=payment.amount_fen, payment_status=payment.status, event_note=event.note,
                      event_actor=event.actor)
        batch.add(write.execute_sql, write.arguments(values))
    else:  # SQLite (`make run`): the same rows, statement by statement
        batch.add(*insert_statement(Order, _ORDER_FIELDS, [tuple(getattr(order, f) for f in _ORDER_FIELDS)]))
        for statement in stock_reservation_statements(reservations=reservations, reference=order.number, now=now):
            batch.add(*statement)
        batch.add(*insert_statement(OrderLine, _LINE_FIELDS,
                                    [tuple(getattr(line, f) for f in _LINE_FIELDS) for line in order_lines]))
        batch.add(*insert_statement(Payment, _PAYMENT_FIELDS,
                                    [tuple(getattr(payment, f) for f in _PAYMENT_FIELDS)]))
        batch.add(*insert_statement(OrderEvent, _EVENT_FIELDS, [tuple(getattr(event, f) for f in _EVENT_FIELDS)]))
        ids = [line.product_id for line in basket]
        batch.add(_cart_trim_sql(connection.vendor, len(ids)), [visitor_id, *ids])
    # The restaurant's details follow its latest order (what the next checkout pre-fills);
    # most orders repeat them, and then the row is left alone.
    district = delivery.district or district
    if profile != (delivery.restaurant_name, delivery.contact_name, delivery.address, district,
                   delivery.latitude, delivery.longitude):
        batch.add(
            _customer_details_sql(connection.vendor),
            [delivery.restaurant_name, delivery.contact_name, delivery.address, district,
             prep(Customer, "latitude", delivery.latitude), prep(Customer, "longitude", delivery.longitude),
             prep(Customer, "updated_at", now), customer_id],
        )
    tx.commit_with(batch)
    # What a fresh order's page shows is all in memory: no need to read it back.
    for child in (*order_lines, payment, event):
        _ORDER_OF[type(child)].set_cached_value(child, order)
    order.payment = payment
    order.visitor = written_instance(Visitor, {"id": visitor_id, "openid": openid, "customer_id": customer_id})
    order._prefetched_objects_cache = {"lines": order_lines, "events": [event], "refunds": []}
    order.customer_messages = []
    return order
