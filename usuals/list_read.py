"""我的常购's fast read: GET /api/v1/usuals in ONE prepared statement; no ORM or DRF.

The list is the rule of usuals.selectors (`rank_usuals`, `usual_quantity`, read by `usual_list`
and written by usuals.api.UsualListApi, which stays the reference and the schema). This module
answers the same bytes for the ordinary request (a GET with a valid visitor token, on
PostgreSQL), the way the catalogue pages do (catalog.listing). What is read live on every
request: the restaurant, the settings, the stock, and the fingerprint below; the rest is kept
while the fingerprint says it still holds.

The whole list (`_statement`, prepared once per connection: core.sql.Prepared)

- finds the visitor's restaurant and its price list (no visitor row: the DRF view answers its 401),
- reads the settings row (window, max_items; the defaults without one),
- takes the restaurant's buying history in the window (per product: orders, last paid_at, and the
  lower median quantity, `percentile_disc(0.5)` being `statistics.median_low`) from its kept count
  (below) or counts it from the paid, not cancelled order lines,
- joins the marks (pinned first; hidden never; a pinned product never bought is listed),
- ranks as `rank_usuals` does (pinned, orders, last bought, name in code-point order, id) and keeps
  `max_items`,
- prices each listed product with the SQL twin of the price rule (catalog.pricing.list_price_rule_sql
  and applies_on_sql, kept beside `list_price_rule` and `PriceBook.applies_on` and tested equal on
  random values in tests/catalog/test_pricing_sql.py) and reads its stock,
- and answers the fingerprint with the items as one small JSON array: id, price, available,
  median, times, last purchase, pinned.

Python writes the answer: each product's row is `product_row`'s text (catalog.listing `row_head`,
split around the price as the shared pages are) kept in this worker's memory under the catalogue
version, for at most PAGE_MAX_AGE_SECONDS, as the catalogue's pages are; the price and the stock
are spliced in, and the pure rules apply: `usual_quantity`, `product_orderable` (已下架),
`stock_label_text` (缺货). Products this worker lacks at the version are read in one more statement.

The worker then keeps the written list (`_LISTS`, per visitor, for at most PAGE_MAX_AGE_SECONDS)
under its fingerprint: the restaurant; the catalogue version (products, their prices and
categories); the settings' window and length; the history's fingerprint (below); the marks'
(how many, the last `updated_at`); the price list in force, whether it applies today, and its
`updated_at`, which its entries move (catalog.models). The next request runs `_check_statement`
only: the fingerprint now and the stock of the kept list's products. An unchanged fingerprint
answers the kept list with today's stock (one statement); a changed one, the whole list again.

The kept count (usuals.models.UsualHistory) spares the whole list the window's aggregate (60
orders of 50 lines for a busy restaurant: most of its time). It is read only under the history's
fingerprint, read afresh by the same statement: the window's length, the number of the window's
paid, not cancelled orders, and the last `updated_at` of the window's paid orders. Every change
that could move the count moves it: an order paid (one more order), cancelled (one fewer), one
leaving the window as time passes (one fewer; the windows of two moments are nested, so equal
counts mean equal orders), a change of lines (orders.services.changes saves the order, so its
`updated_at`), a new window. Otherwise the statement counts, answers that count and stores it (a
data-modifying WITH, without waiting for the disk: a lost one is counted again; readers at once
queue on the upsert). Counts older than HISTORY_TTL_SECONDS are never read, and deleted nightly.

A write that moves no fingerprint (a raw SQL fix, a queryset's `.update()`) shows within
PAGE_MAX_AGE_SECONDS, or HISTORY_TTL_SECONDS for an order line changed without its order.
tests/usuals/test_list_read.py proves the answer equals the reference's bytes on known and
generated histories, six price-list states, the settings row, odd names and image names, and on
the request after each change above.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.db import connection
from django.utils import timezone

from catalog.listing import row_head, split_head, stock_fields, young
from catalog.cache import LISTING_VERSION_SEQUENCE
from catalog.models import Category, PriceList, PriceListEntry, Product
from catalog.pricing import applies_on_sql, list_price_rule_sql
from catalog.rules import product_orderable
from core.sql import Prepared, column, id_array, table
from customers.models import Customer, Visitor
from logistics.models import Stock
from orders.models import Order, OrderLine

from .models import UsualHistory, UsualMark, UsualSettings
from .selectors import DEFAULT_MAX_ITEMS, DEFAULT_WINDOW_DAYS, usual_quantity

HISTORY_TTL_SECONDS = 600  # a kept count is counted again after this long, whatever its fingerprint says


def _ctes(*, listed: bool = True) -> str:
    """The statement's WITH: the restaurant, the settings, the fingerprint of its history and of its
    marks; with `listed`, its history (kept or counted and stored) and its marks as the listed rows."""
    def c(model, name):
        return column(model, name)

    o, line, mark, conf, cust, vis, kept = (table(m) for m in (Order, OrderLine, UsualMark, UsualSettings, Customer,
                                                                Visitor, UsualHistory))
    pinned, hidden = UsualMark.State.PINNED.value, UsualMark.State.HIDDEN.value
    cancelled = Order.Status.CANCELLED.value
    return f"""
        WITH who AS (
          SELECT v.{c(Visitor, 'customer')} AS customer_id, cu.{c(Customer, 'price_list')} AS price_list_id
            FROM {vis} v LEFT JOIN {cust} cu ON cu.{c(Customer, 'id')} = v.{c(Visitor, 'customer')}
           WHERE v.{c(Visitor, 'id')} = %(visitor)s
        ), conf AS (
          SELECT coalesce(max({c(UsualSettings, 'window_days')}), {DEFAULT_WINDOW_DAYS}) AS window_days,
                 coalesce(max({c(UsualSettings, 'max_items')}), {DEFAULT_MAX_ITEMS}) AS max_items
            FROM {conf} WHERE {c(UsualSettings, 'id')} = 1
        ), print AS (
          SELECT count(*) FILTER (WHERE o.{c(Order, 'status')} <> '{cancelled}') AS orders,
                 max(o.{c(Order, 'updated_at')}) AS last_change
            FROM who
            JOIN {o} o ON o.{c(Order, 'customer')} = who.customer_id
           CROSS JOIN conf
           WHERE o.{c(Order, 'paid_at')} >= %(now)s - make_interval(days => conf.window_days)
        ), marks AS (
          SELECT count(*) AS n, max(m.{c(UsualMark, 'updated_at')}) AS last_change
            FROM who JOIN {mark} m ON m.{c(UsualMark, 'customer')} = who.customer_id
        )""" + ("" if not listed else f""", kept AS (
          SELECT h.{c(UsualHistory, 'bought')} AS bought
            FROM who
            JOIN {kept} h ON h.{c(UsualHistory, 'customer')} = who.customer_id
           CROSS JOIN conf CROSS JOIN print
           WHERE h.{c(UsualHistory, 'window_days')} = conf.window_days AND h.{c(UsualHistory, 'orders')} = print.orders
             AND h.{c(UsualHistory, 'last_change')} IS NOT DISTINCT FROM print.last_change
             AND h.{c(UsualHistory, 'counted_at')} > %(now)s - make_interval(secs => {HISTORY_TTL_SECONDS})
        ), counted AS (
          SELECT l.{c(OrderLine, 'product')} AS product_id, count(*) AS times, max(o.{c(Order, 'paid_at')}) AS last_bought,
                 percentile_disc(0.5) WITHIN GROUP (ORDER BY l.{c(OrderLine, 'quantity')}) AS median
            FROM who
            JOIN {o} o ON o.{c(Order, 'customer')} = who.customer_id
            JOIN {line} l ON l.{c(OrderLine, 'order')} = o.{c(Order, 'id')}
           CROSS JOIN conf
           WHERE NOT EXISTS (SELECT FROM kept)
             AND o.{c(Order, 'paid_at')} >= %(now)s - make_interval(days => conf.window_days)
             AND o.{c(Order, 'status')} <> '{cancelled}'
           GROUP BY 1
        ), stored AS (
          INSERT INTO {kept} ({c(UsualHistory, 'customer')}, {c(UsualHistory, 'window_days')},
                              {c(UsualHistory, 'orders')}, {c(UsualHistory, 'last_change')},
                              {c(UsualHistory, 'bought')}, {c(UsualHistory, 'counted_at')})
          SELECT who.customer_id, conf.window_days, print.orders, print.last_change,
                 (SELECT coalesce(jsonb_agg(counted), '[]') FROM counted), %(now)s
            FROM who CROSS JOIN conf CROSS JOIN print
           WHERE who.customer_id IS NOT NULL AND NOT EXISTS (SELECT FROM kept)
              ON CONFLICT ({c(UsualHistory, 'customer')}) DO UPDATE
             SET {", ".join(f"{c(UsualHistory, f)} = EXCLUDED.{c(UsualHistory, f)}" for f in
                            ("window_days", "orders", "last_change", "bought", "counted_at"))}
        ), bought AS (
          SELECT b.product_id, b.times, b.last_bought, b.median
            FROM kept CROSS JOIN LATERAL jsonb_to_recordset(kept.bought)
                 AS b(product_id bigint, times bigint, last_bought timestamptz, median numeric)
           UNION ALL
          SELECT product_id, times, last_bought, median FROM counted
        ), marked AS (
          SELECT m.{c(UsualMark, 'product')} AS product_id, m.{c(UsualMark, 'state')} AS state
            FROM who JOIN {mark} m ON m.{c(UsualMark, 'customer')} = who.customer_id
        ), listed AS (
          SELECT coalesce(b.product_id, m.product_id) AS product_id, coalesce(b.times, 0) AS times, b.last_bought,
                 b.median, m.state IS NOT DISTINCT FROM '{pinned}' AS pinned
            FROM bought b FULL JOIN marked m ON m.product_id = b.product_id
           WHERE m.state IS DISTINCT FROM '{hidden}' AND (b.product_id IS NOT NULL OR m.state = '{pinned}')
        )""")


def _joins(pl: str, listed: str = "listed") -> str:
    """The listed products with category, stock and the price list's three entries."""
    def c(model, name):
        return column(model, name)

    entry = table(PriceListEntry)
    return f"""
              FROM {listed}
              JOIN {table(Product)} p ON p.{c(Product, 'id')} = listed.product_id
              JOIN {table(Category)} cat ON cat.{c(Category, 'id')} = p.{c(Product, 'category')}
              LEFT JOIN {table(Stock)} s ON s.{c(Stock, 'product')} = p.{c(Product, 'id')}
              LEFT JOIN {entry} e ON e.{c(PriceListEntry, 'price_list')} = {pl}
                   AND e.{c(PriceListEntry, 'product')} = p.{c(Product, 'id')}
              LEFT JOIN {entry} ec ON ec.{c(PriceListEntry, 'price_list')} = {pl}
                   AND ec.{c(PriceListEntry, 'category')} = p.{c(Product, 'category')}
              LEFT JOIN {entry} ep ON ep.{c(PriceListEntry, 'price_list')} = {pl}
                   AND ep.{c(PriceListEntry, 'category')} = cat.{c(Category, 'parent')}"""


_ORDER = ("listed.pinned DESC, listed.times DESC, listed.last_bought DESC NULLS LAST, p.{name} COLLATE \"C\", "
          "p.{id}")


# What the answer is kept under (`_statement` and `_check_statement` select it, in this order): the
# restaurant, the catalogue version (products, prices, categories), the settings' window and length,
# the history's fingerprint (the window's paid, not cancelled orders and their last change), the
# marks' (how many, the last change) and the price list's (which, whether it applies today, its
# `updated_at`, which its entries move: catalog.models).
_FINGERPRINT = ("who.customer_id, (SELECT last_value FROM {sequence}), conf.window_days, conf.max_items, print.orders, "
                "print.last_change, marks.n, marks.last_change, who_list.price_list_id, who_list.applies, "
                "who_list.changed")


def _price_sql() -> tuple[str, str]:
    """(the price list's columns for `who_list`, the price of `p` by the SQL twin of the price rule)."""
    def c(model, name):
        return column(model, name)

    pl = f"pl.{c(PriceList, 'id')}"
    applies = applies_on_sql(is_active=f"pl.{c(PriceList, 'is_active')}", valid_from=f"pl.{c(PriceList, 'valid_from')}",
                             valid_to=f"pl.{c(PriceList, 'valid_to')}", day="%(today)s")
    who_list = f"""LEFT JOIN LATERAL (
            SELECT {applies} AS applies, {pl} AS price_list_id, pl.{c(PriceList, 'updated_at')} AS changed
              FROM (SELECT 1) one LEFT JOIN {table(PriceList)} pl ON {pl} = who.price_list_id
          ) who_list ON TRUE"""
    price = list_price_rule_sql(
        base=f"p.{c(Product, 'price')}", fixed=f"e.{c(PriceListEntry, 'price')}",
        percents_nearest_first=[f"ec.{c(PriceListEntry, 'percent_off')}", f"ep.{c(PriceListEntry, 'percent_off')}"],
        applies="who_list.applies")
    return who_list, price


@lru_cache(maxsize=None)
def _statement() -> Prepared:
    """The whole list: the fingerprint, and the list as a JSON array of [id, price, available,
    median, times, last purchase, pinned], in the list's order.

    The price is the SQL twin of the price rule (catalog.pricing.list_price_rule_sql,
    applies_on_sql); `available` is on hand minus reserved (0 without a stock row); the last
    purchase is written as `isoformat` writes it (UTC, the connection's zone)."""
    def c(model, name):
        return column(model, name)

    who_list, price = _price_sql()
    moment = "listed.last_bought"
    utc = f"({moment} AT TIME ZONE 'UTC')"
    last_bought = (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {moment}), "
                   f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'")
    order = _ORDER.format(name=c(Product, 'name'), id=c(Product, 'id'))
    sql = f"""{_ctes()}
        SELECT {_FINGERPRINT.format(sequence=LISTING_VERSION_SEQUENCE)}, items.list
          FROM who CROSS JOIN conf CROSS JOIN print CROSS JOIN marks
          {who_list}
          LEFT JOIN LATERAL (
            SELECT json_agg(json_build_array(r.id, r.price::text, r.available::text, r.median::text, r.times,
                                             r.last_bought, r.pinned) ORDER BY r.position)::text AS list
              FROM (
                SELECT row_number() OVER (ORDER BY {order}) AS position, p.{c(Product, 'id')} AS id, {price} AS price,
                       coalesce(s.{c(Stock, 'on_hand')} - s.{c(Stock, 'reserved')}, 0) AS available, listed.median,
                       listed.times, CASE WHEN {moment} IS NULL THEN NULL ELSE {last_bought} END AS last_bought,
                       listed.pinned
                  {_joins('who_list.price_list_id')}
                 ORDER BY {order}
                 LIMIT (SELECT max_items FROM conf)
              ) r
          ) items ON who.customer_id IS NOT NULL
    """
    return Prepared.named("usuals_list", sql, {"visitor": "bigint", "now": "timestamptz", "today": "date"})


@lru_cache(maxsize=None)
def _check_statement() -> Prepared:
    """The fingerprint now, and the stock now of the products of a kept list (`ids`, in its order,
    as text joined by commas; 0 without a stock row): the kept list answers when the fingerprint
    is still the one it was made under."""
    def c(model, name):
        return column(model, name)

    who_list, _ = _price_sql()
    stock = table(Stock)
    sql = f"""{_ctes(listed=False)}
        SELECT {_FINGERPRINT.format(sequence=LISTING_VERSION_SEQUENCE)}, items.stock
          FROM who CROSS JOIN conf CROSS JOIN print CROSS JOIN marks
          {who_list}
          CROSS JOIN LATERAL (
            SELECT string_agg(coalesce(s.{c(Stock, 'on_hand')} - s.{c(Stock, 'reserved')}, 0)::text, ','
                              ORDER BY listed.position) AS stock
              FROM unnest(%(ids)s) WITH ORDINALITY AS listed(product_id, position)
              LEFT JOIN {stock} s ON s.{c(Stock, 'product')} = listed.product_id
          ) items
    """
    return Prepared.named("usuals_list_check", sql, {"visitor": "bigint", "now": "timestamptz", "today": "date",
                                                      "ids": "bigint[]"})


# This worker's product rows: id -> (catalogue version, when built, the row's text before and after
# its price, unit label, minimum, step, orderable). Bounded: emptied when full.
_HEADS: dict[int, tuple] = {}
HEADS_MAX = 5000
# This worker's lists: visitor id -> (fingerprint, when made, the ids as an array's text, each
# item's text around its stock). Bounded (a full list is ~60 KB of text): emptied when full.
_LISTS: dict[int, tuple] = {}
LISTS_MAX = 500


def forget_old_counts(*, now: datetime | None = None) -> int:
    """Delete the kept counts no read will use again (older than HISTORY_TTL_SECONDS): nightly,
    with the lost-item sweep (usuals.tasks). A count deleted is counted again when next read."""
    now = now or timezone.now()
    deleted, _ = UsualHistory.objects.filter(counted_at__lte=now - timedelta(seconds=HISTORY_TTL_SECONDS)).delete()
    return deleted


def forget_heads() -> None:
    """Empty this process's kept product rows and lists (tests: each starts with none, as a new
    worker does)."""
    _HEADS.clear()
    _LISTS.clear()


def _heads(product_ids: list[int], version: int) -> dict[int, tuple]:
    """The kept rows of these products at this catalogue version, the missing ones read in one
    statement (built from rows read after the version was: a change after that read bumps past it)."""
    now = time.time()
    found, missing = {}, []
    for pk in product_ids:
        head = _HEADS.get(pk)
        if head is not None and head[0] == version and young(head[1], now):
            found[pk] = head
        else:
            missing.append(pk)
    if missing:
        if len(_HEADS) + len(missing) > HEADS_MAX:
            _HEADS.clear()
        for product in Product.objects.filter(pk__in=missing).select_related("category", "category__parent"):
            row = row_head(product, buyer=None, book=None)
            before, after = split_head(row)
            _HEADS[product.pk] = found[product.pk] = (
                version, now, before, after, row["unit_label"], product.min_quantity,
                product.step_quantity, product_orderable(product))
    return found


@lru_cache(maxsize=4096)
def _quantity_text(median: str | None, minimum: Decimal, step: Decimal) -> str:
    """`usual_quantity` of one median as the answer writes it (a handful of values repeat)."""
    return str(usual_quantity(() if median is None else (Decimal(median),), minimum=minimum, step=step))


@lru_cache(maxsize=4096)
def _stock_text(available: str, unit_label: str) -> tuple[str, bool]:
    """(the row's stock fields, whether none is left) for a stock value's text."""
    value = Decimal(available)
    return stock_fields(value, unit_label), value <= 0


def _made(items: list, version: int) -> list[tuple]:
    """Each listed item's text around its stock: (id, the text before the stock fields, after them
    up to the problem, the rest when some is left and when none is, unit label). Items whose
    product is gone since are left out."""
    heads = _heads([item[0] for item in items], version)
    made = []
    for pk, price, _, median, times, last_bought, pinned in items:
        head = heads.get(pk)
        if head is None:
            continue
        _, _, before, after, unit_label, minimum, step, on_sale = head
        # The last purchase is isoformat's text (digits, "-", ":", "T", ".", "+"), a price a plain
        # decimal: nothing to escape.
        bought = "null" if last_bought is None else '"' + last_bought + '"'
        rest = (f'}},"usual_quantity":"{_quantity_text(median, minimum, step)}","unit_price":"{price}",'
                f'"times":{times},"last_bought":{bought},"pinned":{"true" if pinned else "false"},"problem":"')
        made.append((pk, '{"product":' + before + '"' + price + '"' + after,
                     rest + ('"}' if on_sale else '已下架"}'), rest + ('缺货"}' if on_sale else '已下架"}'), unit_label))
    return made


def _written(made: list[tuple], stock: list[str]) -> str:
    parts = []
    for (_, head, some_left, none_left, unit_label), available in zip(made, stock, strict=True):
        fields, none = _stock_text(available, unit_label)
        parts.append(head + fields + (none_left if none else some_left))
    return '{"items":[' + ",".join(parts) + "]}"


def usual_list_body(*, visitor_id: int, now: datetime | None = None) -> str | None:
    """The JSON text GET /api/v1/usuals answers this visitor (PostgreSQL only), or None when
    there is no such visitor (the DRF view then answers its error).

    With a list this worker keeps for the visitor, one statement: the fingerprint and the stock
    (`_check_statement`); the kept list answers when the fingerprint is unchanged and it is younger
    than PAGE_MAX_AGE_SECONDS, with the stock spliced in. Otherwise the whole list (`_statement`), and the product rows this
    worker lacks at the catalogue version: at most three statements."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    kept = _LISTS.get(visitor_id)
    clock = time.time()
    with connection.cursor() as cursor:
        if kept is not None and young(kept[1], clock):
            check = _check_statement()
            check.execute(cursor, check.arguments({"visitor": visitor_id, "now": now, "today": today, "ids": kept[2]}))
            row = cursor.fetchone()
            if row is None:
                return None
            # Stock values are plain decimals (no comma): the list splits back exactly.
            if tuple(row[:-1]) == kept[0]:
                return _written(kept[3], row[-1].split(",") if row[-1] else [])
        statement = _statement()
        statement.execute(cursor, statement.arguments({"visitor": visitor_id, "now": now, "today": today}),
                          without_waiting_for_disk=True)
        row = cursor.fetchone()
    if row is None:
        return None
    fingerprint, listed = tuple(row[:-1]), row[-1]
    items = json.loads(listed) if listed else []
    made = _made(items, fingerprint[1])
    if len(_LISTS) >= LISTS_MAX:
        _LISTS.clear()
    _LISTS[visitor_id] = (fingerprint, clock, id_array(entry[0] for entry in made), made)
    stock = {item[0]: item[2] for item in items}
    return _written(made, [stock[entry[0]] for entry in made])
