"""The product list's fast path: a page built once and shared, with stock read on every request.

`GET /api/v1/catalog/products` is the request the shop makes most (every category tap, every
search keystroke). What it lists, and at what catalogue price, is the same for everyone who pays
catalogue prices (anonymous visitors and restaurants without a price list), so that part of a page
is built once and kept; each request then costs one indexed read of the page's stock, instead of
DRF serialising thirty ORM rows. On PostgreSQL a page is kept in each worker's memory and the
catalogue version comes with the stock, in the same statement (from the sequence
catalog.cache.LISTING_VERSION_SEQUENCE): one round trip in all, as for the trivial `/healthz`.
Elsewhere (SQLite, `make run`) the page is kept in the cache beside the cache's version.

Rules (README "Catalogue speed and freshness"; each has a test in tests/catalog/test_listing.py):

1. What is listed, and at what catalogue price, follows every change at once: a product put on or
   off sale, a price, a name or a category changed (anything that calls `catalog_changed()`,
   which bumps the catalogue version) makes the next request build the page again. A change that
   bypasses the version (a raw SQL fix) shows within `PAGE_MAX_AGE_SECONDS` (and one rebuild: while
   one thread of a worker rebuilds a page that is only too old, its other threads serve the kept
   page of the same version instead of all rebuilding it at once).
2. Stock shown in a list ("剩余 12 斤", available, in_stock) is read on every request: never stale.
   The version read with it is the one the kept page must carry, or the page is built again.
3. A restaurant with a price list gets its own prices on every request: the shared page gives
   the rows (what is listed, the catalogue price, the category chain), its price book is read
   fresh for the page and each row is priced by `catalog.pricing` (the one rule); never shared.
4. Checkout re-reads price and stock under its row locks, as before: a list is a display.

`product_row` is the lean twin of `ProductSerializer` (same keys, same order, same text); the
serializer stays the reference and the schema, and a test compares the two on generated products.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from json.encoder import encode_basestring  # what json.dumps(text, ensure_ascii=False) writes

from django.core.cache import cache
from django.db import connection

from core.sql import Prepared, column, id_array, table

from .cache import LISTING_VERSION_SEQUENCE, VERSION_KEY, catalog_version
from .models import Product
from .pricing import Buyer, category_chain, price_book, unit_price_for
from .search import normalize_query
from .selectors import (
    SEARCH_MAX_LENGTH,
    available_quantity,
    product_page,
    products_by_ids,
    stock_label_text,
)

PAGE_MAX_AGE_SECONDS = 30


def young(built_at: float, now: float) -> bool:
    """Whether something kept at `built_at` (time.time()) may still answer at `now`: at most
    PAGE_MAX_AGE_SECONDS old (the bound for a change made behind the catalogue version's back)."""
    return 0 <= now - built_at < PAGE_MAX_AGE_SECONDS
_PAGE_KEY = "catalog:page:"
_TWO_PLACES = Decimal("0.01")
_NONE = Decimal("0")  # available_quantity of a product without a stock row


def _decimal_text(value: Decimal | None) -> str | None:
    """What DRF's DecimalField (two places, as a string) writes for a model decimal."""
    return None if value is None else f"{value.quantize(_TWO_PLACES):f}"


def _dumps(value) -> str:
    # DRF's JSONRenderer with its defaults (UNICODE_JSON, COMPACT_JSON, and its escape of the two
    # JavaScript line separators): the same text.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def row_head(product, *, buyer: Buyer | None, book) -> dict:
    """Every field of the row but the stock (the last three), in the serializer's order."""
    image_url = product.image.url if product.image else ""
    return {
        "id": product.pk,
        "code": product.code,
        "name": product.name,
        "spec": product.spec,
        "unit": product.unit,
        "unit_label": product.get_unit_display(),
        "price": str(unit_price_for(product=product, buyer=buyer, book=book)),
        "catch_weight": product.catch_weight,
        "nominal_weight": _decimal_text(product.nominal_weight),
        "storage": product.storage,
        "storage_label": product.get_storage_display(),
        "origin": product.origin,
        "image_url": image_url,
        "thumbnail_url": product.thumbnail.url if product.thumbnail else image_url,
        "category": product.category_id,
        "category_name": product.category.name,
        "min_quantity": _decimal_text(product.min_quantity),
        "step_quantity": _decimal_text(product.step_quantity),
    }


def stock_fields(available: Decimal, unit_label: str) -> str:
    """The row's last three fields as JSON text (without braces). `available` is a plain decimal
    (on hand minus reserved, two places), so its text needs no escaping."""
    return '"available":"%s","in_stock":%s,"stock_label":%s' % (
        available, "true" if available > 0 else "false", encode_basestring(stock_label_text(available, unit_label)))


_UNIT_LABELS = {value: str(label) for value, label in Product.Unit.choices}
_STORAGE_LABELS = {value: str(label) for value, label in Product.Storage.choices}
_IMAGE_STORAGE = Product._meta.get_field("image").storage
_THUMBNAIL_STORAGE = Product._meta.get_field("thumbnail").storage


def product_row_of_columns(*, pk: int, code: str, name: str, spec: str, unit: str, price: Decimal,
                           catch_weight: bool, nominal_weight: Decimal | None, storage: str, origin: str, image: str,
                           thumbnail: str, category_id: int, category_name: str, min_quantity: Decimal,
                           step_quantity: Decimal, available: Decimal) -> dict:
    """`product_row` from a product's column values (hand-written SQL, no model instance): the
    same keys, order and text as `ProductSerializer`. `price` is the buyer's unit price (priced by
    catalog.pricing), `available` on hand minus reserved (0 without a stock row)."""
    unit_label = _UNIT_LABELS.get(unit, unit)
    image_url = _IMAGE_STORAGE.url(image) if image else ""
    return {
        "id": pk, "code": code, "name": name, "spec": spec, "unit": unit, "unit_label": unit_label,
        "price": str(price), "catch_weight": catch_weight, "nominal_weight": _decimal_text(nominal_weight),
        "storage": storage, "storage_label": _STORAGE_LABELS.get(storage, storage), "origin": origin,
        "image_url": image_url, "thumbnail_url": _THUMBNAIL_STORAGE.url(thumbnail) if thumbnail else image_url,
        "category": category_id, "category_name": category_name,
        "min_quantity": _decimal_text(min_quantity), "step_quantity": _decimal_text(step_quantity),
        "available": str(available), "in_stock": available > 0,
        "stock_label": stock_label_text(available, unit_label),
    }


def product_row(product, *, buyer: Buyer | None = None, book=None) -> dict:
    """One product as `ProductSerializer` writes it, without DRF's per-field machinery."""
    row = row_head(product, buyer=buyer, book=book)
    available = available_quantity(product)
    row.update(available=str(available), in_stock=available > 0,
               stock_label=stock_label_text(available, row["unit_label"]))
    return row


def page_results(*, category_id: int | None, query: str | None, number: int, size: int,
                 buyer: Buyer | None) -> tuple[int, bool, str]:
    """(count, has_next, the results array as JSON text) for one page, built from the database:
    page ids (listing cache), then the rows with stock and category, then the buyer's price book."""
    page = product_page(category_id=category_id, query=query, page=number, size=size)
    products = products_by_ids(page["ids"])
    book = price_book(products, buyer)
    return page["count"], page["has_next"], _dumps([product_row(p, buyer=buyer, book=book) for p in products])


@dataclass(frozen=True, slots=True)
class _Listed:
    """What `catalog.pricing` reads of a listed product: its id, catalogue price and category
    chain (nearest first), from the shared page's row: a price-list page needs no product rows."""

    pk: int
    price: Decimal
    category_chain: tuple[int, ...]


_PRICE_FIELD = "price"


def split_head(head: dict) -> tuple[str, str]:
    """The row's JSON text before and after its price value, without the stock fields or the
    closing brace: `before + json(price) + after` is the head's text followed by a comma."""
    keys = list(head)
    at = keys.index(_PRICE_FIELD)
    before = _dumps({key: head[key] for key in keys[:at]})[:-1] + ',"price":'
    after = "," + _dumps({key: head[key] for key in keys[at + 1:]})[1:-1] + ","
    return before, after


def _shared_page(category_id, query, number, size, version, built_at) -> tuple[tuple, dict[int, Decimal]]:
    """What a catalogue-price page keeps in the cache (the rows without their stock, split around
    the price, with what pricing needs to re-price them), and the stock just read with the rows."""
    page = product_page(category_id=category_id, query=query, page=number, size=size)
    products = products_by_ids(page["ids"])
    rows = []
    for product in products:
        head = row_head(product, buyer=None, book=None)
        before, after = split_head(head)
        # Plain values only: unpickling 30 dataclasses cost a tenth of a shared page's request.
        rows.append((product.pk, before, after, head["unit_label"], head[_PRICE_FIELD], product.price,
                     category_chain(product)))
    stock = {product.pk: available_quantity(product) for product in products}
    return (version, built_at, page["count"], page["has_next"], tuple(rows)), stock


def stock_of(product_ids: list[int]) -> dict[int, Decimal]:
    """Available stock (on hand minus reserved) of these products, off PostgreSQL (there
    `version_and_stock` reads it with the version). A product without a stock row has none."""
    if not product_ids:
        return {}
    return {pk: on_hand - reserved for pk, on_hand, reserved in
            Product.objects.filter(pk__in=product_ids, stock__isnull=False)
            .values_list("pk", "stock__on_hand", "stock__reserved")}


@lru_cache(maxsize=None)
def _version_and_stock_statement() -> Prepared:
    """The catalogue version (the sequence's last value) on every row, and the stock of the
    products that have a stock row: at least one row, for the version, whatever the ids."""
    stock = Product._meta.get_field("stock").related_model
    sql = (f"SELECT (SELECT last_value FROM {LISTING_VERSION_SEQUENCE}), s.{column(stock, 'product')}, "
           f"s.{column(stock, 'on_hand')} - s.{column(stock, 'reserved')} FROM (SELECT 1) one "
           f"LEFT JOIN {table(stock)} s ON s.{column(stock, 'product')} = ANY(%s)")
    return Prepared("catalog_page_version_stock", sql, ("bigint[]",))


def version_and_stock(product_ids: list[int]) -> tuple[int, dict[int, Decimal]]:
    """(the catalogue version, `stock_of` these products) in one statement (PostgreSQL only)."""
    with connection.cursor() as cursor:
        _version_and_stock_statement().execute(cursor, [id_array(product_ids)])
        rows = cursor.fetchall()
    return rows[0][0], {pk: available for _, pk, available in rows if pk is not None}


# This worker's kept pages: key -> the page as `_shared_page` keeps it. Bounded: emptied when full
# (a page costs ~15 KB; rebuilding one costs a few statements, once per version and worker).
_LOCAL: dict[str, tuple] = {}
LOCAL_PAGES_MAX = 1000


def forget_local_pages() -> None:
    """Empty this process's kept pages (tests: each starts with none, as a new worker does)."""
    _LOCAL.clear()


_REBUILDING: set[str] = set()  # this worker's pages being rebuilt for their age, by key
_REBUILDING_LOCK = threading.Lock()


def _claim(key: str) -> bool:
    """True for the one thread that may rebuild this page now; False while another does."""
    with _REBUILDING_LOCK:
        if key in _REBUILDING:
            return False
        _REBUILDING.add(key)
        return True


def _release(key: str) -> None:
    with _REBUILDING_LOCK:
        _REBUILDING.discard(key)


def _keep(key, category_id, query, number, size, version, now) -> tuple[tuple, dict[int, Decimal]]:
    # Built from rows read after the version was: a change after that read bumps past it.
    kept, stock = _shared_page(category_id, query, number, size, version, now)
    if len(_LOCAL) >= LOCAL_PAGES_MAX:
        _LOCAL.clear()
    _LOCAL[key] = kept
    return kept, stock


def _kept_page(key, category_id, query, number, size) -> tuple[tuple, dict[int, Decimal]]:
    """(the page, its stock now): rule 1 and 2's bookkeeping, on PostgreSQL from this worker's
    memory and the version read with the stock, elsewhere from the cache."""
    now = time.time()
    if connection.vendor == "postgresql":
        kept = _LOCAL.get(key)
        version, stock = version_and_stock([row[0] for row in kept[4]] if kept is not None else [])
        if kept is not None and kept[0] == version:
            if young(kept[1], now):
                return kept, stock
            # Only too old: one thread of this worker rebuilds it, the others serve it meanwhile
            # (the same version: rule 1 holds) instead of all rebuilding it at once.
            if not _claim(key):
                return kept, stock
            try:
                return _keep(key, category_id, query, number, size, version, now)
            finally:
                _release(key)
        return _keep(key, category_id, query, number, size, version, now)
    found = cache.get_many([VERSION_KEY, key])
    version, kept = found.get(VERSION_KEY), found.get(key)
    if kept is None or version is None or kept[0] != version or not young(kept[1], now):
        kept, stock = _shared_page(category_id, query, number, size, version or catalog_version(), now)
        cache.set(key, kept, timeout=PAGE_MAX_AGE_SECONDS)
        return kept, stock
    return kept, stock_of([row[0] for row in kept[4]])


def shared_page_results(*, category_id: int | None, query: str | None, number: int,
                        size: int, buyer: Buyer | None = None) -> tuple[int, bool, str]:
    """`page_results` from the shared page: the page kept (rule 1), rebuilt when the catalogue
    version moved or it is older than PAGE_MAX_AGE_SECONDS, and its stock read now (rule 2). On
    PostgreSQL one statement (the version and the stock together); elsewhere one cache round trip
    and one statement; a page built afresh takes its stock from the rows it was built from. A
    buyer with a price list adds one statement, its price book for the page, and each row is
    re-priced by the rule (rule 3)."""
    needle = None if query is None else normalize_query(query)[:SEARCH_MAX_LENGTH]  # what the search uses
    key = f"{_PAGE_KEY}{category_id}|{needle}|{number}|{size}"
    kept, stock = _kept_page(key, category_id, query, number, size)
    _, _, count, has_next, rows = kept
    if buyer is None or buyer.price_list_id is None:
        prices = {row[0]: row[4] for row in rows}
    else:
        listed = [_Listed(pk, base, chain) for pk, _, _, _, _, base, chain in rows]
        book = price_book(listed, buyer)
        prices = {item.pk: str(unit_price_for(product=item, buyer=buyer, book=book)) for item in listed}
    # A price is a plain decimal ("12.50"): quoted as is, the same text json.dumps writes.
    text = ",".join(f'{before}"{prices[pk]}"{after}{stock_fields(stock.get(pk, _NONE), unit)}}}'
                    for pk, before, after, unit, _, _, _ in rows)
    return count, has_next, "[" + text + "]"
