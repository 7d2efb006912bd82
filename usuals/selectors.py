"""我的常购: each customer's usual products, computed from their paid orders.

The rule (`rank_usuals`, pure): over the settings' window (UsualSettings.window_days, default 90
days back from now), each product the customer bought in a paid, not cancelled order counts how
many of those orders had it (frequency) and when it was last bought (recency). The list is the
pinned products first, then the others; within each, by frequency, then recency, then name;
hidden products never show; at most `max_items`. A product's usual quantity is the median (the lower one of an even count: a
quantity actually bought) of its past quantities in the window, fitted to its minimum and step
(catalog.rules.fit_to_steps; the minimum when below it); a pinned product never bought in the
window gets its minimum.

`usual_list` reads it in two statements (the visitor's restaurant is already known): one that
brings the window's order lines, the customer's marks, the settings row and the customer's price
list together (UNION ALL), then the products with their stock, category and the price list's
entries (catalog.pricing.with_price_list). Prices go through catalog.pricing like everywhere.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import Product
from catalog.pricing import Buyer, PriceBook, price_book_of_annotated, with_price_list
from catalog.rules import fit_to_steps, product_orderable
from catalog.selectors import available_quantity
from core.sql import column, table
from customers.models import Customer
from orders.models import Order, OrderLine

from .models import MAX_WINDOW_DAYS, UsualMark, UsualSettings

DEFAULT_WINDOW_DAYS = 90
DEFAULT_MAX_ITEMS = 50


@dataclass(frozen=True)
class History:
    """One product's purchases in the window."""

    product_id: int
    times: int
    last_bought: datetime | None
    quantities: tuple[Decimal, ...]


@dataclass
class Usual:
    product: Product
    usual_quantity: Decimal
    times: int
    last_bought: datetime | None
    pinned: bool
    problem: str  # "" when it can be ordered now: 已下架 / 缺货


def rank_usuals(histories: list[History], *, pinned: set[int], hidden: set[int], names: dict[int, str],
                max_items: int) -> list[int]:
    """Product ids in the list's order (see the module's rule)."""
    by_id = {h.product_id: h for h in histories}
    never = datetime.min.replace(tzinfo=timezone.get_current_timezone())

    def key(pk):
        history = by_id.get(pk)
        times = history.times if history else 0
        last = (history.last_bought if history and history.last_bought else never)
        return (pk not in pinned, -times, -last.timestamp() if last != never else 0, names.get(pk, ""), pk)

    candidates = (set(by_id) | pinned) - hidden
    return sorted(candidates, key=key)[:max_items]


def usual_quantity(quantities, *, minimum: Decimal, step: Decimal) -> Decimal:
    """The median past quantity (lower of an even count), fitted to min/step; the minimum otherwise."""
    if not quantities:
        return minimum
    fitted = fit_to_steps(statistics.median_low(quantities), minimum=minimum, step=step)
    return fitted if fitted > 0 else minimum


def _first_read_sql() -> str:
    o, line, m, s, c = table(Order), table(OrderLine), table(UsualMark), table(UsualSettings), table(Customer)
    return (
        f"SELECT 'line' AS kind, l.{column(OrderLine, 'product_id')} AS product_id, "
        f"l.{column(OrderLine, 'quantity')} AS quantity, o.{column(Order, 'paid_at')} AS at, '' AS state "
        f"FROM {line} l JOIN {o} o ON o.{column(Order, 'id')} = l.{column(OrderLine, 'order_id')} "
        f"WHERE o.{column(Order, 'customer_id')} = %s AND o.{column(Order, 'paid_at')} >= %s "
        f"AND o.{column(Order, 'status')} <> %s "
        f"UNION ALL SELECT 'mark', {column(UsualMark, 'product_id')}, NULL, NULL, {column(UsualMark, 'state')} "
        f"FROM {m} WHERE {column(UsualMark, 'customer_id')} = %s "
        f"UNION ALL SELECT 'window', {column(UsualSettings, 'window_days')}, {column(UsualSettings, 'max_items')}, "
        f"NULL, '' FROM {s} WHERE {column(UsualSettings, 'id')} = 1 "
        f"UNION ALL SELECT 'list', {column(Customer, 'price_list_id')}, NULL, NULL, '' "
        f"FROM {c} WHERE {column(Customer, 'id')} = %s"
    )


def _moment(value):
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))  # SQLite: text
    return parsed if parsed is None or timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.utc)


def usual_list(*, customer_id: int | None, now: datetime | None = None) -> tuple[list[Usual], Buyer | None,
                                                                                   PriceBook | None]:
    """The customer's usual list, its Buyer and price book (to price it): two statements, none
    without a restaurant."""
    if customer_id is None:
        return [], None, None
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_first_read_sql(), [customer_id, now - timedelta(days=MAX_WINDOW_DAYS),
                                           Order.Status.CANCELLED, customer_id, customer_id])
        rows = cursor.fetchall()
    window_days, max_items, price_list_id = DEFAULT_WINDOW_DAYS, DEFAULT_MAX_ITEMS, None
    lines, pinned, hidden = [], set(), set()
    for kind, number, quantity, at, state in rows:
        if kind == "window":
            window_days, max_items = int(number), int(quantity)
        elif kind == "list":
            price_list_id = number
        elif kind == "mark":
            (pinned if state == UsualMark.State.PINNED else hidden).add(number)
        else:
            lines.append((number, Decimal(str(quantity)), _moment(at)))
    buyer = Buyer(customer_id=customer_id, price_list_id=price_list_id)
    since = now - timedelta(days=window_days)
    bought = defaultdict(list)
    for product_id, quantity, at in lines:
        if at >= since:
            bought[product_id].append((quantity, at))
    histories = [History(product_id=pk, times=len(items), last_bought=max(at for _, at in items),
                         quantities=tuple(q for q, _ in items)) for pk, items in bought.items()]
    ids = (set(bought) | pinned) - hidden
    if not ids:
        return [], buyer, None
    products = {p.pk: p for p in with_price_list(
        Product.objects.filter(pk__in=ids).select_related("stock", "category__parent"), price_list_id)}
    book = price_book_of_annotated(products.values(), price_list_id)
    order = rank_usuals([h for h in histories if h.product_id in products], pinned=pinned & set(products),
                        hidden=hidden, names={pk: p.name for pk, p in products.items()}, max_items=max_items)
    by_id = {h.product_id: h for h in histories}
    usuals = []
    for pk in order:
        product, history = products[pk], by_id.get(pk)
        problem = ""
        if not product_orderable(product):
            problem = "已下架"
        elif available_quantity(product) <= 0:
            problem = "缺货"
        usuals.append(Usual(
            product=product, times=history.times if history else 0,
            last_bought=history.last_bought if history else None, pinned=pk in pinned,
            usual_quantity=usual_quantity(history.quantities if history else (), minimum=product.min_quantity,
                                          step=product.step_quantity),
            problem=problem))
    return usuals, buyer, book
