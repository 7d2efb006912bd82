"""我的常购's fast read: GET /api/v1/usuals in ONE prepared statement and no ORM or DRF.

The list is the rule of usuals.selectors (`rank_usuals`, `usual_quantity`, read by `usual_list`
and written by usuals.api.UsualListApi, which stays the reference and the schema). This module
answers the same bytes for the ordinary request (a GET with a valid visitor token, on
PostgreSQL), the way the rep feed poll and the assistant reads do (reps/feed.py,
reps/assistant_reads.py): the statement, prepared once per connection (core.sql.Prepared),

- finds the visitor's restaurant and its price list (no visitor row: the DRF view answers its 401),
- reads the settings row (window, max_items; the defaults without one),
- aggregates the restaurant's paid, not cancelled order lines in the window per product (orders,
  last paid_at, and the lower median quantity: `percentile_disc(0.5)` is `statistics.median_low`),
- joins the marks (pinned first; hidden never; a pinned product never bought is listed),
- ranks as `rank_usuals` does (pinned, orders, last bought, name in code-point order, id) and keeps
  `max_items`,
- and brings each product's columns, category, stock and the price list's header and entries for
  the product, its category and the category's parent.

Python then applies the same rules as the reference: `usual_quantity` (catalog.rules.fit_to_steps),
`orderable` (on sale), the price through `catalog.pricing.list_price_rule` (the price list applying
on today's Shanghai date) and the product row of `catalog.listing.product_row_of_columns`.
tests/usuals/test_list_read.py proves the bytes equal the reference's on known histories.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from django.db import connection
from django.utils import timezone

from catalog.listing import product_row_of_columns
from catalog.models import Category, PriceList, PriceListEntry, Product
from catalog.pricing import PriceBook, list_price_rule
from catalog.rules import orderable
from core.sql import Prepared, column, table
from customers.models import Customer, Visitor
from logistics.models import Stock
from orders.models import Order, OrderLine

from .models import UsualMark, UsualSettings
from .selectors import DEFAULT_MAX_ITEMS, DEFAULT_WINDOW_DAYS, usual_quantity

_NONE = Decimal("0")  # available stock of a product without a stock row
_PRODUCT_COLUMNS = ("id", "code", "name", "spec", "unit", "price", "catch_weight", "nominal_weight", "storage",
                    "origin", "image", "thumbnail", "category", "min_quantity", "step_quantity", "is_active")


@lru_cache(maxsize=None)
def _statement() -> Prepared:
    def c(model, name):
        return column(model, name)

    o, line, mark, conf, cust, vis = (table(m) for m in (Order, OrderLine, UsualMark, UsualSettings, Customer,
                                                          Visitor))
    product_columns = ", ".join(f"p.{c(Product, name)}" for name in _PRODUCT_COLUMNS)
    entry = table(PriceListEntry)
    pinned, hidden = UsualMark.State.PINNED.value, UsualMark.State.HIDDEN.value
    sql = f"""
        WITH who AS (
          SELECT v.{c(Visitor, 'customer')} AS customer_id, cu.{c(Customer, 'price_list')} AS price_list_id
            FROM {vis} v LEFT JOIN {cust} cu ON cu.{c(Customer, 'id')} = v.{c(Visitor, 'customer')}
           WHERE v.{c(Visitor, 'id')} = %(visitor)s
        ), conf AS (
          SELECT coalesce(max({c(UsualSettings, 'window_days')}), {DEFAULT_WINDOW_DAYS}) AS window_days,
                 coalesce(max({c(UsualSettings, 'max_items')}), {DEFAULT_MAX_ITEMS}) AS max_items
            FROM {conf} WHERE {c(UsualSettings, 'id')} = 1
        ), bought AS (
          SELECT l.{c(OrderLine, 'product')} AS product_id, count(*) AS times, max(o.{c(Order, 'paid_at')}) AS last_bought,
                 percentile_disc(0.5) WITHIN GROUP (ORDER BY l.{c(OrderLine, 'quantity')}) AS median
            FROM who
            JOIN {o} o ON o.{c(Order, 'customer')} = who.customer_id
            JOIN {line} l ON l.{c(OrderLine, 'order')} = o.{c(Order, 'id')}
           CROSS JOIN conf
           WHERE o.{c(Order, 'paid_at')} >= %(now)s - make_interval(days => conf.window_days)
             AND o.{c(Order, 'status')} <> '{Order.Status.CANCELLED.value}'
           GROUP BY 1
        ), marked AS (
          SELECT m.{c(UsualMark, 'product')} AS product_id, m.{c(UsualMark, 'state')} AS state
            FROM who JOIN {mark} m ON m.{c(UsualMark, 'customer')} = who.customer_id
        ), listed AS (
          SELECT coalesce(b.product_id, m.product_id) AS product_id, coalesce(b.times, 0) AS times, b.last_bought,
                 b.median, m.state IS NOT DISTINCT FROM '{pinned}' AS pinned
            FROM bought b FULL JOIN marked m ON m.product_id = b.product_id
           WHERE m.state IS DISTINCT FROM '{hidden}' AND (b.product_id IS NOT NULL OR m.state = '{pinned}')
        )
        SELECT who.customer_id, pl.{c(PriceList, 'id')}, pl.{c(PriceList, 'name')}, pl.{c(PriceList, 'is_active')},
               pl.{c(PriceList, 'valid_from')}, pl.{c(PriceList, 'valid_to')}, r.*
          FROM who
          LEFT JOIN {table(PriceList)} pl ON pl.{c(PriceList, 'id')} = who.price_list_id
          LEFT JOIN LATERAL (
            SELECT {product_columns}, cat.{c(Category, 'name')}, cat.{c(Category, 'is_active')},
                   cat.{c(Category, 'parent')}, parent.{c(Category, 'is_active')},
                   s.{c(Stock, 'on_hand')} - s.{c(Stock, 'reserved')},
                   e.{c(PriceListEntry, 'price')}, ec.{c(PriceListEntry, 'percent_off')},
                   ep.{c(PriceListEntry, 'percent_off')},
                   listed.times, listed.last_bought, listed.median, listed.pinned
              FROM listed
              JOIN {table(Product)} p ON p.{c(Product, 'id')} = listed.product_id
              JOIN {table(Category)} cat ON cat.{c(Category, 'id')} = p.{c(Product, 'category')}
              LEFT JOIN {table(Category)} parent ON parent.{c(Category, 'id')} = cat.{c(Category, 'parent')}
              LEFT JOIN {table(Stock)} s ON s.{c(Stock, 'product')} = p.{c(Product, 'id')}
              LEFT JOIN {entry} e ON e.{c(PriceListEntry, 'price_list')} = pl.{c(PriceList, 'id')}
                   AND e.{c(PriceListEntry, 'product')} = p.{c(Product, 'id')}
              LEFT JOIN {entry} ec ON ec.{c(PriceListEntry, 'price_list')} = pl.{c(PriceList, 'id')}
                   AND ec.{c(PriceListEntry, 'category')} = p.{c(Product, 'category')}
              LEFT JOIN {entry} ep ON ep.{c(PriceListEntry, 'price_list')} = pl.{c(PriceList, 'id')}
                   AND ep.{c(PriceListEntry, 'category')} = cat.{c(Category, 'parent')}
             ORDER BY listed.pinned DESC, listed.times DESC, listed.last_bought DESC NULLS LAST,
                      p.{c(Product, 'name')} COLLATE "C", p.{c(Product, 'id')}
             LIMIT (SELECT max_items FROM conf)
          ) r ON TRUE
    """
    return Prepared.named("usuals_list", sql, {"visitor": "bigint", "now": "timestamptz"})


def _dumps(value) -> str:
    # DRF's JSONRenderer with its defaults (UNICODE_JSON, COMPACT_JSON, and its escape of the two
    # JavaScript line separators): the same text.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def usual_list_body(*, visitor_id: int, now: datetime | None = None) -> str | None:
    """The JSON text GET /api/v1/usuals answers this visitor (PostgreSQL only), or None when
    there is no such visitor (the DRF view then answers its error)."""
    statement = _statement()
    with connection.cursor() as cursor:
        statement.execute(cursor, statement.arguments({"visitor": visitor_id, "now": now or timezone.now()}))
        rows = cursor.fetchall()
    if not rows:
        return None
    _, list_id, list_name, list_active, valid_from, valid_to = rows[0][:6]
    applies = list_id is not None and PriceBook(
        price_list_id=list_id, name=list_name, is_active=list_active, valid_from=valid_from,
        valid_to=valid_to).applies_on(timezone.localdate(now))
    items = []
    for row in rows:
        (pk, code, name, spec, unit, base, catch_weight, nominal_weight, storage, origin, image, thumbnail,
         category_id, min_quantity, step_quantity, product_active, category_name, category_active, parent_id,
         parent_active, available, fixed, category_percent, parent_percent, times, last_bought, median,
         pinned) = row[6:]
        if pk is None:  # no restaurant, or nothing to list
            break
        percents = [category_percent, parent_percent] if parent_id is not None else [category_percent]
        price = list_price_rule(base=base, fixed=fixed, percents_nearest_first=percents, applies=applies)[0]
        if available is None:
            available = _NONE
        problem = ""
        if not orderable(product_active=product_active, category_active=category_active,
                         parent_active=None if parent_id is None else parent_active):
            problem = "已下架"
        elif available <= 0:
            problem = "缺货"
        product = product_row_of_columns(
            pk=pk, code=code, name=name, spec=spec, unit=unit, price=price, catch_weight=catch_weight,
            nominal_weight=nominal_weight, storage=storage, origin=origin, image=image, thumbnail=thumbnail,
            category_id=category_id, category_name=category_name, min_quantity=min_quantity,
            step_quantity=step_quantity, available=available)
        quantity = usual_quantity(() if median is None else (median,), minimum=min_quantity, step=step_quantity)
        items.append({"product": product, "usual_quantity": str(quantity), "unit_price": product["price"],
                      "times": times, "last_bought": last_bought.isoformat() if last_bought else None,
                      "pinned": pinned, "problem": problem})
    return _dumps({"items": items})
