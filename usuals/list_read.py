"""我的常购's fast read: GET /api/v1/usuals in ONE prepared statement that writes the JSON; no ORM or DRF.

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

The same statement then writes the answer's items (`_json_statement`): it prices each line with
the SQL twin of the price rule (catalog.pricing.list_price_rule_sql and applies_on_sql, kept beside
`list_price_rule` and `PriceBook.applies_on` and tested equal on random values in
tests/catalog/test_pricing_sql.py), applies `usual_quantity` (fit_to_steps of the lower median),
`orderable`, `stock_label_text` and `product_row_of_columns`'s labels and image URLs, and joins the
items as compact JSON (row_to_json), so Python only splices one text into the body, as the rep feed
poll does. Nothing is cached: price, stock, marks and history are read live on every request.

When a listed product's image name is one the file storage would URL-quote (or the media storage
is not the file system's), the statement says so and the rows statement (`_statement`) runs
instead: Python then applies the pure rules themselves (`usual_quantity`, `orderable`,
`list_price_rule` on today's Shanghai date, `product_row_of_columns`). Two statements at most.
tests/usuals/test_list_read.py proves both paths answer the reference's bytes on known and
generated histories, six price-list states, the settings row, odd names and image names.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.utils import timezone

from catalog.listing import _IMAGE_STORAGE, _STORAGE_LABELS, _THUMBNAIL_STORAGE, _UNIT_LABELS, product_row_of_columns
from catalog.models import Category, PriceList, PriceListEntry, Product
from catalog.pricing import PriceBook, applies_on_sql, list_price_rule, list_price_rule_sql
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


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _labels_sql(column_sql: str, labels: dict[str, str]) -> str:
    """The label of a choice, as `_UNIT_LABELS.get(value, value)` writes it."""
    return f"CASE {column_sql} " + " ".join(
        f"WHEN {_sql_text(value)} THEN {_sql_text(label)}" for value, label in labels.items()) + f" ELSE {column_sql} END"


# An image name FileSystemStorage.url writes as base_url + name (filepath_to_uri quotes nothing in
# it, and urljoin has no "." or ".." segment to resolve): the statement writes only those URLs, and
# says when a row has another one (then the rows statement and Python write the list).
_PLAIN_NAME = r"^([A-Za-z0-9_~!*()-][A-Za-z0-9_.~!*()-]*/)*[A-Za-z0-9_~!*()-][A-Za-z0-9_.~!*()-]*$"


def _ctes() -> str:
    def c(model, name):
        return column(model, name)

    o, line, mark, conf, cust, vis = (table(m) for m in (Order, OrderLine, UsualMark, UsualSettings, Customer,
                                                          Visitor))
    pinned, hidden = UsualMark.State.PINNED.value, UsualMark.State.HIDDEN.value
    return f"""
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
        )"""


def _joins(pl: str) -> str:
    """The listed products with category, its parent, stock and the price list's three entries."""
    def c(model, name):
        return column(model, name)

    entry = table(PriceListEntry)
    return f"""
              FROM listed
              JOIN {table(Product)} p ON p.{c(Product, 'id')} = listed.product_id
              JOIN {table(Category)} cat ON cat.{c(Category, 'id')} = p.{c(Product, 'category')}
              LEFT JOIN {table(Category)} parent ON parent.{c(Category, 'id')} = cat.{c(Category, 'parent')}
              LEFT JOIN {table(Stock)} s ON s.{c(Stock, 'product')} = p.{c(Product, 'id')}
              LEFT JOIN {entry} e ON e.{c(PriceListEntry, 'price_list')} = {pl}
                   AND e.{c(PriceListEntry, 'product')} = p.{c(Product, 'id')}
              LEFT JOIN {entry} ec ON ec.{c(PriceListEntry, 'price_list')} = {pl}
                   AND ec.{c(PriceListEntry, 'category')} = p.{c(Product, 'category')}
              LEFT JOIN {entry} ep ON ep.{c(PriceListEntry, 'price_list')} = {pl}
                   AND ep.{c(PriceListEntry, 'category')} = cat.{c(Category, 'parent')}"""


_ORDER = ("listed.pinned DESC, listed.times DESC, listed.last_bought DESC NULLS LAST, p.{name} COLLATE \"C\", "
          "p.{id}")


@lru_cache(maxsize=None)
def _statement() -> Prepared:
    """The rows statement: the list's columns, priced and written by Python (the fallback)."""
    def c(model, name):
        return column(model, name)

    product_columns = ", ".join(f"p.{c(Product, name)}" for name in _PRODUCT_COLUMNS)
    order = _ORDER.format(name=c(Product, 'name'), id=c(Product, 'id'))
    sql = f"""{_ctes()}
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
              {_joins(f"pl.{c(PriceList, 'id')}")}
             ORDER BY {order}
             LIMIT (SELECT max_items FROM conf)
          ) r ON TRUE
    """
    return Prepared.named("usuals_list", sql, {"visitor": "bigint", "now": "timestamptz"})


@lru_cache(maxsize=None)
def _json_statement() -> Prepared:
    """The JSON statement: the same list, priced and written as the answer's items by PostgreSQL.

    Each rule it applies is the SQL twin of the pure one, kept next to it: the price
    (catalog.pricing.list_price_rule_sql, applies_on_sql); here, as the rows path applies them,
    `usual_quantity` (fit_to_steps of the lower median), `orderable`, `stock_label_text`
    (trim_scale is Decimal.normalize), the labels and the image URLs of `product_row_of_columns`,
    and `isoformat` of the last purchase (UTC, the connection's zone). The items are compact JSON
    (row_to_json) joined by commas, as DRF's renderer writes them; tests/usuals/test_list_read.py
    proves the bytes equal the reference's."""
    def c(model, name):
        return column(model, name)

    pl = f"pl.{c(PriceList, 'id')}"
    applies = applies_on_sql(is_active=f"pl.{c(PriceList, 'is_active')}", valid_from=f"pl.{c(PriceList, 'valid_from')}",
                             valid_to=f"pl.{c(PriceList, 'valid_to')}", day="%(today)s")
    price = list_price_rule_sql(
        base=f"p.{c(Product, 'price')}", fixed=f"e.{c(PriceListEntry, 'price')}",
        percents_nearest_first=[f"ec.{c(PriceListEntry, 'percent_off')}", f"ep.{c(PriceListEntry, 'percent_off')}"],
        applies="who_list.applies")
    available = f"coalesce(s.{c(Stock, 'on_hand')} - s.{c(Stock, 'reserved')}, 0)"
    minimum, step = f"p.{c(Product, 'min_quantity')}", f"p.{c(Product, 'step_quantity')}"
    fitted = f"({minimum} + div(listed.median - {minimum}, {step}) * {step})"
    quantity = (f"CASE WHEN listed.median IS NULL OR listed.median < {minimum} OR NOT {fitted} > 0 "
                f"THEN {minimum} ELSE {fitted} END")
    orderable_sql = (f"(p.{c(Product, 'is_active')} AND cat.{c(Category, 'is_active')} "
                     f"AND (cat.{c(Category, 'parent')} IS NULL OR parent.{c(Category, 'is_active')}))")
    unit = f"p.{c(Product, 'unit')}"
    unit_label = _labels_sql(unit, _UNIT_LABELS)
    image, thumbnail = f"p.{c(Product, 'image')}", f"p.{c(Product, 'thumbnail')}"
    image_url = f"CASE WHEN {image} = '' THEN '' ELSE %(media)s || {image} END"
    moment = "listed.last_bought"
    utc = f"({moment} AT TIME ZONE 'UTC')"
    last_bought = (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {moment}), "
                   f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'")
    order = _ORDER.format(name=c(Product, 'name'), id=c(Product, 'id'))
    sql = f"""{_ctes()}
        SELECT who.customer_id, items.text, items.plain
          FROM who
          LEFT JOIN LATERAL (
            SELECT {applies} AS applies, {pl} AS price_list_id
              FROM (SELECT 1) one LEFT JOIN {table(PriceList)} pl ON {pl} = who.price_list_id
          ) who_list ON TRUE
          LEFT JOIN LATERAL (
            SELECT string_agg(row_to_json(i)::text, ',' ORDER BY r.position) AS text, coalesce(bool_and(r.plain), true) AS plain
              FROM (
                SELECT row_number() OVER (ORDER BY {order}) AS position,
                       ({image} = '' OR {image} ~ '{_PLAIN_NAME}') AND ({thumbnail} = '' OR {thumbnail} ~ '{_PLAIN_NAME}') AS plain,
                       j.product, j.price, j.available, j.orderable,
                       {quantity} AS usual_quantity, listed.times, listed.last_bought, listed.pinned
                  {_joins('who_list.price_list_id')}
                  CROSS JOIN LATERAL (SELECT {price} AS price, {available} AS available, {orderable_sql} AS orderable) k
                  CROSS JOIN LATERAL (
                    SELECT k.price, k.available, k.orderable, row_to_json(f) AS product
                      FROM (SELECT p.{c(Product, 'id')} AS "id", p.{c(Product, 'code')} AS "code",
                                   p.{c(Product, 'name')} AS "name", p.{c(Product, 'spec')} AS "spec", {unit} AS "unit",
                                   {unit_label} AS "unit_label", k.price::text AS "price",
                                   p.{c(Product, 'catch_weight')} AS "catch_weight",
                                   p.{c(Product, 'nominal_weight')}::text AS "nominal_weight",
                                   p.{c(Product, 'storage')} AS "storage",
                                   {_labels_sql(f"p.{c(Product, 'storage')}", _STORAGE_LABELS)} AS "storage_label",
                                   p.{c(Product, 'origin')} AS "origin", {image_url} AS "image_url",
                                   CASE WHEN {thumbnail} = '' THEN {image_url} ELSE %(media)s || {thumbnail} END
                                     AS "thumbnail_url",
                                   p.{c(Product, 'category')} AS "category", cat.{c(Category, 'name')} AS "category_name",
                                   {minimum}::text AS "min_quantity", {step}::text AS "step_quantity",
                                   k.available::text AS "available", k.available > 0 AS "in_stock",
                                   CASE WHEN k.available <= 0 THEN '缺货'
                                        ELSE '剩余 ' || trim_scale(k.available)::text || ' ' || {unit_label} END
                                     AS "stock_label") f
                  ) j
                 ORDER BY {order}
                 LIMIT (SELECT max_items FROM conf)
              ) r
              CROSS JOIN LATERAL (
                SELECT r.product, r.usual_quantity::text AS usual_quantity, r.price::text AS unit_price, r.times,
                       CASE WHEN r.last_bought IS NULL THEN NULL ELSE {last_bought.replace('listed.', 'r.')} END
                         AS last_bought,
                       r.pinned,
                       CASE WHEN NOT r.orderable THEN '已下架' WHEN r.available <= 0 THEN '缺货' ELSE '' END AS problem
              ) i
          ) items ON who.customer_id IS NOT NULL
    """
    return Prepared.named("usuals_list_json", sql, {"visitor": "bigint", "now": "timestamptz", "today": "date",
                                                     "media": "text"})


def _dumps(value) -> str:
    # DRF's JSONRenderer with its defaults (UNICODE_JSON, COMPACT_JSON, and its escape of the two
    # JavaScript line separators): the same text.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def usual_list_body(*, visitor_id: int, now: datetime | None = None) -> str | None:
    """The JSON text GET /api/v1/usuals answers this visitor (PostgreSQL only), or None when
    there is no such visitor (the DRF view then answers its error).

    One statement builds the items' JSON (`_json_statement`); Python splices it into the body.
    When a listed product's image name is one the statement does not write (or the media storage
    is not the file system's), the rows statement and Python write the list instead."""
    now = now or timezone.now()
    if isinstance(_IMAGE_STORAGE, FileSystemStorage) and isinstance(_THUMBNAIL_STORAGE, FileSystemStorage) \
            and _IMAGE_STORAGE.base_url == _THUMBNAIL_STORAGE.base_url:
        statement = _json_statement()
        with connection.cursor() as cursor:
            statement.execute(cursor, statement.arguments({
                "visitor": visitor_id, "now": now, "today": timezone.localdate(now),
                "media": _IMAGE_STORAGE.base_url}))
            row = cursor.fetchone()
        if row is None:
            return None
        if row[2] is not False:
            body = '{"items":[' + (row[1] or "") + "]}"
            return body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return _rows_body(visitor_id=visitor_id, now=now)


def _rows_body(*, visitor_id: int, now: datetime) -> str | None:
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
