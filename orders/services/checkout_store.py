"""Checkout's reads and writes: every statement, lock and row it touches. No rule lives here.

`snapshot_read` takes the locks and reads what checkout_rules decides on; `order_write` writes
the plan it returns. On PostgreSQL that is three round trips, each a prepared statement
(core.sql): BEGIN with one read that locks the visitor (NOWAIT) and the basket's stock rows (in
product order: see seafood_b2b/locks.py), then one `WITH` statement that writes the order, the
reservation and its ledger rows (logistics' SQL), the lines, the payment row and the first event,
trims the cart and keeps the restaurant's details, with the COMMIT. SQLite (`make run`) runs the
same reads and writes the same rows statement by statement.

Rows are decoded by column name (every selected column has an alias); a failed write is
classified by the constraint it broke in checkout_conflicts (`unique_violation`), never by an
error message's text.

Prices: the customer's price list (its header joined to the visitor's row) and, per basket
product, the list's entries for the product, its category and the category's parent (joined to
the product rows) come back in the same read; `checkout_prices.price_book_from_rows` makes them the `PriceBook` that
checkout_rules prices with (catalog.pricing), so a price list costs no extra round trip.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from decimal import Decimal
from functools import lru_cache

from django.db import OperationalError, connection

from catalog.models import Cart, CartLine, Category, PriceList, Product
from core.errors import NotAuthenticated
from core.money import to_fen
from core.sql import (
    Prepared,
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
from . import checkout_coupons as coupon_sql
from .checkout_prices import entry_columns, entry_joins, price_book_from_rows
from .checkout_rules import (
    BasketLine,
    CheckoutSnapshot,
    CustomerSnapshot,
    OrderRules,
    Plan,
    ProductSnapshot,
)

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: FOR UPDATE NOWAIT found the row locked


class VisitorBusy(Exception):
    """The visitor's row is locked by another checkout (a double tap, a second device)."""


# -- reading -------------------------------------------------------------------------------------

def _aliased(pairs) -> str:
    return ", ".join(f"{expression} AS {alias}" for alias, expression in pairs)


@lru_cache(maxsize=None)
def _visitor_sql(vendor: str, nowait: bool) -> str:
    v, c, o, r, pl = table(Visitor), table(Customer), table(Order), table(OrderSettings), table(PriceList)
    lock = ""
    if connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF v" + (" NOWAIT" if nowait and connection.features.has_select_for_update_nowait else "")
    selected = _aliased([
        ("visitor_openid", f"v.{column(Visitor, 'openid')}"),
        ("existing_order_id", f"o.{column(Order, 'id')}"),
        *((f"customer_{name}", f"c.{column(Customer, name)}") for name in (
            "id", "rep_id", "phone", "name", "contact_name", "address", "district", "latitude", "longitude",
            "price_list_id")),
        *((f"price_list_{name}", f"pl.{column(PriceList, name)}") for name in (
            "name", "is_active", "valid_from", "valid_to")),
        *((f"rules_{name}", f"r.{column(OrderSettings, name)}") for name in (
            "id", "cutoff_time", "min_order_amount", "delivery_fee", "free_delivery_threshold",
            "payment_timeout_minutes")),
        *coupon_sql.coupon_columns(vendor),
    ])
    return (
        f"SELECT {selected} "
        f"FROM {v} v LEFT JOIN {c} c ON c.{column(Customer, 'id')} = v.{column(Visitor, 'customer_id')} "
        f"LEFT JOIN {o} o ON o.{column(Order, 'visitor_id')} = v.{column(Visitor, 'id')} "
        f"AND o.{column(Order, 'idempotency_key')} = %s "
        f"LEFT JOIN {r} r ON r.{column(OrderSettings, 'id')} = 1 "
        f"LEFT JOIN {pl} pl ON pl.{column(PriceList, 'id')} = c.{column(Customer, 'price_list_id')} "
        f"{coupon_sql.coupon_joins('%s')} "
        f"WHERE v.{column(Visitor, 'id')} = %s{lock}"
    )


@lru_cache(maxsize=512)
def _product_sql(vendor: str, ids_condition: str) -> str:
    p, cat, s = table(Product), table(Category), table(Stock)
    lock = ""
    if connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF s"
    elif connection.features.has_select_for_update:
        lock = " FOR UPDATE"
    active = column(Category, "is_active")
    selected = _aliased([
        *((f"product_{name}", f"p.{column(Product, name)}") for name in (
            "id", "code", "name", "spec", "unit", "price", "min_quantity", "step_quantity", "catch_weight",
            "nominal_weight")),
        # The three flags of catalog.rules.orderable, decided in Python, not here.
        ("product_active", f"p.{column(Product, 'is_active')}"),
        ("category_active", f"c.{active}"),
        ("parent_active", f"pc.{active}"),
        ("product_category_id", f"p.{column(Product, 'category_id')}"),
        ("parent_category_id", f"c.{column(Category, 'parent_id')}"),
        ("stock_id", f"s.{column(Stock, 'id')}"),
        ("stock_available", f"s.{column(Stock, 'on_hand')} - s.{column(Stock, 'reserved')}"),
    ])
    return (
        f"SELECT {selected} "
        f"FROM {p} p JOIN {cat} c ON c.{column(Category, 'id')} = p.{column(Product, 'category_id')} "
        f"LEFT JOIN {cat} pc ON pc.{column(Category, 'id')} = c.{column(Category, 'parent_id')} "
        f"JOIN {s} s ON s.{column(Stock, 'product_id')} = p.{column(Product, 'id')} "
        f"WHERE p.{column(Product, 'id')} {ids_condition} "
        f"ORDER BY p.{column(Product, 'id')}{lock}"
    )


@lru_cache(maxsize=512)
def _products_priced_sql(vendor: str, ids_condition: str) -> str:
    """The basket's products (stock rows locked) with the entries of the list given after the ids."""
    return f"SELECT pq.*, {entry_columns()} FROM ({_product_sql(vendor, ids_condition)}) pq {entry_joins('%s')}"


@lru_cache(maxsize=None)
def _visitor_statement(vendor: str, nowait: bool) -> Prepared:
    return Prepared(f"checkout_visitor_{'nowait' if nowait else 'wait'}", _visitor_sql(vendor, nowait),
                    ("varchar", "bigint", "bigint"))


@lru_cache(maxsize=None)
def _product_statement(vendor: str) -> Prepared:
    return Prepared("checkout_products", _products_priced_sql(vendor, "= ANY(%s)"),
                    ("bigint[]", "bigint", "bigint", "bigint"))


@lru_cache(maxsize=None)
def _visitor_and_products_statement(vendor: str) -> Prepared:
    """The visitor (locked NOWAIT) and the basket's products (stock rows locked in product order)
    in one round trip: one row per product found, or one row with empty product columns."""
    return Prepared(
        "checkout_visitor_products",
        f"SELECT vq.*, pq.*, {entry_columns()} FROM ({_visitor_sql(vendor, True)}) vq "
        f"LEFT JOIN ({_product_sql(vendor, '= ANY(%s)')}) pq ON TRUE {entry_joins('vq.customer_price_list_id')}",
        ("varchar", "bigint", "bigint", "bigint[]"),
    )


def _rows(cursor) -> list[dict]:
    names = [description[0] for description in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _decimal(value) -> Decimal | None:
    # PostgreSQL hands back Decimal; SQLite a float or an int for a NUMERIC column.
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _decimal6(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.000001"))


def _flag(value) -> bool | None:
    return None if value is None else bool(value)


def _products_from(rows: list[dict]) -> dict[int, ProductSnapshot]:
    products = {}
    for row in rows:
        if row["product_id"] is None:  # the visitor's row without products (none of the ids has stock)
            continue
        products[row["product_id"]] = ProductSnapshot(
            id=row["product_id"], code=row["product_code"], name=row["product_name"], spec=row["product_spec"],
            unit=row["product_unit"], price=_decimal(row["product_price"]),
            min_quantity=_decimal(row["product_min_quantity"]), step_quantity=_decimal(row["product_step_quantity"]),
            catch_weight=bool(row["product_catch_weight"]), nominal_weight=_decimal(row["product_nominal_weight"]),
            product_active=bool(row["product_active"]), category_active=bool(row["category_active"]),
            parent_active=_flag(row["parent_active"]), stock_id=row["stock_id"],
            available=_decimal(row["stock_available"]),
            category_chain=tuple(pk for pk in (row["product_category_id"], row["parent_category_id"]) if pk),
        )
    return products


def _customer_from(row: dict) -> CustomerSnapshot | None:
    if row["customer_id"] is None:
        return None
    return CustomerSnapshot(
        id=row["customer_id"], rep_id=row["customer_rep_id"], phone=row["customer_phone"], name=row["customer_name"],
        contact_name=row["customer_contact_name"], address=row["customer_address"],
        district=row["customer_district"], latitude=_decimal6(row["customer_latitude"]),
        longitude=_decimal6(row["customer_longitude"]), price_list_id=row["customer_price_list_id"],
    )


def _rules_from(row: dict) -> OrderRules:
    if row["rules_id"] is None:
        settings_row = OrderSettings.current()  # the row is created on first use
        return OrderRules(cutoff_time=settings_row.cutoff_time, min_order_amount=settings_row.min_order_amount,
                          delivery_fee=settings_row.delivery_fee,
                          free_delivery_threshold=settings_row.free_delivery_threshold,
                          payment_timeout_minutes=settings_row.payment_timeout_minutes)
    cutoff = row["rules_cutoff_time"]
    if isinstance(cutoff, str):  # SQLite
        cutoff = time.fromisoformat(cutoff)
    return OrderRules(cutoff_time=cutoff, min_order_amount=_decimal(row["rules_min_order_amount"]),
                      delivery_fee=_decimal(row["rules_delivery_fee"]),
                      free_delivery_threshold=_decimal(row["rules_free_delivery_threshold"]),
                      payment_timeout_minutes=row["rules_payment_timeout_minutes"])


def _cart_basket(tx: Transaction, visitor_id: int) -> tuple[BasketLine, ...]:
    tx.execute(
        f"SELECT l.{column(CartLine, 'product_id')} AS product_id, l.{column(CartLine, 'quantity')} AS quantity "
        f"FROM {table(CartLine)} l JOIN {table(Cart)} c ON c.{column(Cart, 'id')} = l.{column(CartLine, 'cart_id')} "
        f"WHERE c.{column(Cart, 'visitor_id')} = %s ORDER BY l.{column(CartLine, 'id')}",
        [visitor_id],
    )
    return tuple(BasketLine(product_id=row["product_id"], quantity=_decimal(row["quantity"]))
                 for row in _rows(tx.cursor))


def products_lock(tx: Transaction, product_ids: list[int], price_list_id: int | None = None
                  ) -> dict[int, ProductSnapshot]:
    """Products with their available stock, stock rows locked in product order (no deadlocks)."""
    return _products_from(_products_locked_rows(tx, product_ids, price_list_id))


def _products_locked_rows(tx: Transaction, product_ids: list[int], price_list_id: int | None) -> list[dict]:
    """Rows of products with their available stock and the entries of this price list, stock
    rows locked in product order (no deadlocks); `_products_from` / `price_book_from_rows` read them."""
    ids = sorted(product_ids)
    if connection.vendor == "postgresql":  # one plan for every basket size
        tx.execute_prepared(_product_statement(connection.vendor), [ids, *[price_list_id] * 3])
    else:
        tx.execute(_products_priced_sql(connection.vendor, f"IN ({', '.join(['%s'] * len(ids))})"),
                   [*ids, *[price_list_id] * 3])
    return _rows(tx.cursor)


def _unstocked(basket, products) -> dict[int, str | None]:
    """Names of the basket's products that have no stock row (None: no such product). Rare: a
    product created but never stocked, or an id the buyer made up."""
    missing = [line.product_id for line in basket if line.product_id not in products]
    if not missing:
        return {}
    names = dict(Product.objects.filter(pk__in=missing).values_list("pk", "name"))
    return {pk: names.get(pk) for pk in missing}


def snapshot_read(tx: Transaction, *, visitor_id: int, idempotency_key: str, basket: list[BasketLine] | None,
                  contended: bool, now: datetime, coupon_id: int | None = None) -> CheckoutSnapshot | uuid.UUID:
    """Lock and read what checkout decides on; or the id of the order this key already made.

    Normally nobody else holds this visitor: the lock is taken without waiting (VisitorBusy if
    someone does). A contended retry waits for the lock and then reads again: in READ COMMITTED
    only a new statement sees the order the other checkout has just committed under this key.
    """
    params = [idempotency_key, coupon_id, visitor_id]
    if connection.vendor == "postgresql":
        _write_statement(connection.vendor).ensure(tx.cursor)  # once per connection, before BEGIN
    # The usual case, a confirmed basket on PostgreSQL: visitor and products in one round trip.
    together = basket is not None and not contended and connection.vendor == "postgresql"
    try:
        if together:
            tx.execute_prepared(_visitor_and_products_statement(connection.vendor),
                                [*params, sorted(line.product_id for line in basket)])
        else:
            tx.execute_prepared(_visitor_statement(connection.vendor, not contended), params)
    except OperationalError as error:
        if getattr(error.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise VisitorBusy() from error
        raise
    if contended and not together:
        tx.execute_prepared(_visitor_statement(connection.vendor, False), params)
    rows = _rows(tx.cursor)
    if not rows:
        raise NotAuthenticated("登录已失效，请重新进入", code="authentication_failed")
    row = rows[0]
    if row["existing_order_id"] is not None:
        existing = row["existing_order_id"]
        return existing if isinstance(existing, uuid.UUID) else uuid.UUID(str(existing))
    customer, rules = _customer_from(row), _rules_from(row)
    explicit = basket is not None
    products: dict[int, ProductSnapshot] = {}
    prices = None
    if customer is not None:  # without a restaurant nothing more is read: checkout refuses
        product_rows = []
        if together:
            product_rows = rows
        else:
            if not explicit:
                basket = _cart_basket(tx, visitor_id)
            if basket:
                product_rows = _products_locked_rows(tx, [line.product_id for line in basket],
                                                     customer.price_list_id)
        products, prices = _products_from(product_rows), price_book_from_rows(row, product_rows)
    basket = tuple(basket or ())
    return CheckoutSnapshot(
        visitor_id=visitor_id, openid=row["visitor_openid"], customer=customer, basket=basket, explicit=explicit,
        products=products, unstocked=_unstocked(basket, products) if customer is not None else {}, rules=rules,
        now=now, prices=prices, coupon_id=coupon_id,
        coupon=coupon_sql.coupon_from_row(row) if customer is not None else None,
    )


# -- writing -------------------------------------------------------------------------------------

_ORDER_FIELDS = (
    "id", "number", "customer_id", "visitor_id", "rep_id", "status", "idempotency_key", "delivery_date", "subtotal",
    "delivery_fee", "discount", "total", "restaurant_name", "contact_name", "phone", "address", "district",
    "latitude", "longitude", "note", "expires_at", "cancel_reason", "created_at", "updated_at",
)
_LINE_FIELDS = ("order_id", "product_id", "product_code", "product_name", "spec", "unit", "unit_price", "quantity",
                "amount", "discount", "catch_weight", "nominal_weight", "list_price", "price_list_id",
                "price_list_name")
_PAYMENT_FIELDS = ("order_id", "out_trade_no", "amount_fen", "status", "payer_openid", "created_at", "updated_at")
_EVENT_FIELDS = ("order_id", "from_status", "to_status", "note", "actor", "created_at")
# The order row's own values, named as its fields; "now" stands for created_at and updated_at.
_ORDER_VALUES = tuple(f for f in _ORDER_FIELDS if f not in ("created_at", "updated_at"))
# One array per column of the order's lines, in basket order.
_LINE_ARRAYS = _LINE_FIELDS[1:]
_CUSTOMER_DETAILS = ("name", "contact_name", "address", "district", "latitude", "longitude", "updated_at")


@lru_cache(maxsize=256)
def _cart_trim_sql(vendor: str, count: int) -> str:
    return (f"DELETE FROM {table(CartLine)} WHERE {column(CartLine, 'cart_id')} IN "
            f"(SELECT {column(Cart, 'id')} FROM {table(Cart)} WHERE {column(Cart, 'visitor_id')} = %s) "
            f"AND {column(CartLine, 'product_id')} IN ({', '.join(['%s'] * count)})")


@lru_cache(maxsize=None)
def _customer_details_sql(vendor: str) -> str:
    assignments = ", ".join(f"{column(Customer, name)} = %s" for name in _CUSTOMER_DETAILS)
    return f"UPDATE {table(Customer)} SET {assignments} WHERE {column(Customer, 'id')} = %s"


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
                 event_note=parameter_type(OrderEvent, "note"), event_actor=parameter_type(OrderEvent, "actor"),
                 **coupon_sql.redemption_parameter_types())

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
        coupon_sql.redemption_cte(),  # the coupon, when one is used
        f"cart_trimmed AS (DELETE FROM {table(CartLine)} WHERE {column(CartLine, 'cart_id')} IN "
        f"(SELECT {column(Cart, 'id')} FROM {table(Cart)} WHERE {column(Cart, 'visitor_id')} = %(visitor_id)s) "
        f"AND {column(CartLine, 'product_id')} = ANY(%(line_product_id)s))",
    ]
    return Prepared.named("checkout_write", "WITH " + ",\n".join(parts) + "\nSELECT 1", types)


# The `order` foreign key of each row written with an order, to attach the order to them in memory.
_ORDER_OF = {model: model._meta.get_field("order") for model in (OrderLine, Payment, OrderEvent)}


def order_write(tx: Transaction, *, snapshot: CheckoutSnapshot, plan: Plan, number: str,
                idempotency_key: str) -> Order:
    """Write the plan's order and COMMIT; the order comes back with its lines, payment and first
    event in memory, ready to show (built directly: Model.__init__ for ten instances is a
    measurable share of a checkout's Python)."""
    now, customer, delivery = snapshot.now, plan.customer, plan.delivery
    order = written_instance(Order, dict(
        id=uuid.uuid4(), number=number, customer_id=customer.id, visitor_id=snapshot.visitor_id,
        rep_id=customer.rep_id, status=Order.Status.PENDING_PAYMENT, idempotency_key=idempotency_key,
        delivery_date=plan.delivery_date, subtotal=plan.subtotal, delivery_fee=plan.delivery_fee,
        discount=plan.discount, total=plan.total, restaurant_name=delivery.restaurant_name,
        contact_name=delivery.contact_name, phone=customer.phone, address=delivery.address,
        district=delivery.district, latitude=delivery.latitude, longitude=delivery.longitude, note=delivery.note,
        expires_at=plan.expires_at, paid_at=None, cancelled_at=None, cancel_reason="", created_at=now, updated_at=now,
    ))
    order_lines = [
        written_instance(OrderLine, dict(
            order_id=order.id, product_id=line.product.id, product_code=line.product.code,
            product_name=line.product.name, spec=line.product.spec, unit=line.product.unit,
            unit_price=line.unit_price, quantity=line.quantity, amount=line.amount,
            catch_weight=line.product.catch_weight, nominal_weight=line.product.nominal_weight,
            discount=line.discount, list_price=line.list_price, price_list_id=line.price_list_id,
            price_list_name=line.price_list_name))
        for line in plan.lines
    ]
    payment = written_instance(Payment, dict(
        order_id=order.id, out_trade_no=order.number, amount_fen=to_fen(order.total), status=Payment.Status.CREATED,
        payer_openid="", created_at=now, updated_at=now))
    event = written_instance(OrderEvent, dict(order_id=order.id, from_status="", to_status=order.status,
                                              note="提交订单", actor="customer", created_at=now))

    batch = StatementBatch()
    if connection.vendor == "postgresql":
        write = _write_statement(connection.vendor)
        values = {f: getattr(order, f) for f in _ORDER_VALUES}
        values.update({f"line_{f}": [getattr(line, f) for line in order_lines] for f in _LINE_ARRAYS})
        values.update(now=now, stock_ids=list(plan.reservations), stock_units=list(plan.reservations.values()),
                      amount_fen=payment.amount_fen, payment_status=payment.status, event_note=event.note,
                      event_actor=event.actor, coupon_id=plan.coupon_id)
        batch.add(write.execute_sql, write.arguments(values))
    else:  # SQLite (`make run`): the same rows, statement by statement
        batch.add(*insert_statement(Order, _ORDER_FIELDS, [tuple(getattr(order, f) for f in _ORDER_FIELDS)]))
        for statement in stock_reservation_statements(reservations=plan.reservations, reference=order.number,
                                                      now=now):
            batch.add(*statement)
        batch.add(*insert_statement(OrderLine, _LINE_FIELDS,
                                    [tuple(getattr(line, f) for f in _LINE_FIELDS) for line in order_lines]))
        batch.add(*insert_statement(Payment, _PAYMENT_FIELDS,
                                    [tuple(getattr(payment, f) for f in _PAYMENT_FIELDS)]))
        batch.add(*insert_statement(OrderEvent, _EVENT_FIELDS, [tuple(getattr(event, f) for f in _EVENT_FIELDS)]))
        if plan.coupon_id is not None:
            batch.add(*coupon_sql.redemption_insert(coupon_id=plan.coupon_id, order_id=order.id,
                                                    discount=plan.discount, now=now))
        ids = [line.product_id for line in snapshot.basket]
        batch.add(_cart_trim_sql(connection.vendor, len(ids)), [snapshot.visitor_id, *ids])
    if plan.details_changed:
        details = dict(name=delivery.restaurant_name, contact_name=delivery.contact_name, address=delivery.address,
                       district=plan.district, latitude=delivery.latitude, longitude=delivery.longitude,
                       updated_at=now)
        batch.add(_customer_details_sql(connection.vendor),
                  [prep(Customer, name, details[name]) for name in _CUSTOMER_DETAILS] + [customer.id])
    tx.commit_with(batch)
    # What a fresh order's page shows is all in memory: no need to read it back.
    for child in (*order_lines, payment, event):
        _ORDER_OF[type(child)].set_cached_value(child, order)
    order.payment = payment
    order.visitor = written_instance(Visitor, {"id": snapshot.visitor_id, "openid": snapshot.openid,
                                               "customer_id": customer.id})
    order._prefetched_objects_cache = {"lines": order_lines, "events": [event], "refunds": []}
    order.customer_messages = []
    return order
