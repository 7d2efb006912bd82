"""Checkout's read of the customer's price list: the SQL that joins a price list's entries to
checkout's product rows, and the `PriceBook` (catalog.pricing) built from what came back.

The entries come back in checkout_store's one read, beside each product row: the product's own
entry, its category's and the category's parent's; the list's header beside the visitor's row.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from catalog.models import PriceListEntry
from catalog.pricing import PriceBook
from core.sql import column, table


def _decimal(value) -> Decimal | None:
    # PostgreSQL hands back Decimal; SQLite a float or an int for a NUMERIC column.
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.01"))


# The price list's entries for a product row `pq`: its own, its category's, its parent's.
_ENTRY_COLUMNS = ("pe.{price} AS entry_product_price, ce.{percent} AS entry_category_percent, "
                  "pce.{percent} AS entry_parent_percent")


def entry_columns() -> str:
    return _ENTRY_COLUMNS.format(price=column(PriceListEntry, "price"), percent=column(PriceListEntry, "percent_off"))


def entry_joins(list_id: str) -> str:
    """LEFT JOINs of the entries of the list named by the SQL `list_id` (three times; NULL
    matches nothing) to the product rows `pq`."""
    e = table(PriceListEntry)
    entry_list, entry_product, entry_category = (column(PriceListEntry, name) for name in
                                                 ("price_list_id", "product_id", "category_id"))
    return (
        f"LEFT JOIN {e} pe ON pe.{entry_list} = {list_id} AND pe.{entry_product} = pq.product_id "
        f"LEFT JOIN {e} ce ON ce.{entry_list} = {list_id} AND ce.{entry_category} = pq.product_category_id "
        f"LEFT JOIN {e} pce ON pce.{entry_list} = {list_id} AND pce.{entry_category} = pq.parent_category_id"
    )


def price_book_from_rows(header: dict, rows: list[dict]) -> PriceBook | None:
    """The customer's price list (`header`: the visitor's row) with the entries read beside each
    product row (None: the customer has no list)."""
    if header.get("customer_price_list_id") is None:
        return None
    product_prices, category_percents = {}, {}
    for row in rows:
        if row.get("product_id") is None:
            continue
        if row["entry_product_price"] is not None:
            product_prices[row["product_id"]] = _decimal(row["entry_product_price"])
        for key, category in (("entry_category_percent", row["product_category_id"]),
                              ("entry_parent_percent", row["parent_category_id"])):
            if row[key] is not None:
                category_percents[category] = _decimal(row[key])
    valid_from, valid_to = header["price_list_valid_from"], header["price_list_valid_to"]
    return PriceBook(
        price_list_id=header["customer_price_list_id"], name=header["price_list_name"] or "",
        is_active=bool(header["price_list_is_active"]),
        valid_from=date.fromisoformat(valid_from) if isinstance(valid_from, str) else valid_from,  # SQLite: text
        valid_to=date.fromisoformat(valid_to) if isinstance(valid_to, str) else valid_to,
        product_prices=product_prices, category_percents=category_percents,
    )
