"""Where a price comes from. Every price a buyer sees or pays is computed here, on the server.

One function, `unit_price_for`, prices a product for a buyer: the listing, the product page,
the cart, the checkout confirmation, checkout itself, reorder and 我的常购 all call it. The buyer
is a `Buyer`, not a Customer row: it holds exactly what a price rule may read, and every path
builds it from the customer's own columns (`buyer_of` for a loaded Customer; checkout from the
same columns in its one read, tested to agree). A rule that needs another fact about the
customer adds it here first, and each path is then made to supply it: none can silently price
with a half-filled customer.

Price lists (catalog.models.PriceList): a buyer's list is read per request, for a page of
products at once, into a `PriceBook` (`price_book(products, buyer)`: one query; checkout reads
the same rows inside its one prepared read and builds the book from them). The rule that turns
a book into a price is `list_price_rule`, pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django.utils import timezone

from core.money import CENT, money

from .selectors import line_problem

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Buyer:
    """What pricing may know about who is buying. An anonymous visitor is `None`, not a Buyer.

    `price_list_id`: the customer's price list in force (None: list prices): its own or a tag's,
    as catalog.price_lists keeps it on Customer.price_list, which every path reads."""

    customer_id: int
    price_list_id: int | None = None


def buyer_of(customer) -> Buyer | None:
    """The Buyer for a Customer or a customer id (None: a visitor without a restaurant yet).

    A Customer row reads its own columns (no query); an id costs one query for its price list."""
    if customer is None:
        return None
    if isinstance(customer, int):
        from customers.models import Customer

        price_list_id = Customer.objects.filter(pk=customer).values_list("price_list_id", flat=True).first()
        return Buyer(customer_id=customer, price_list_id=price_list_id)
    return Buyer(customer_id=customer.pk, price_list_id=customer.price_list_id)


@dataclass(frozen=True)
class PriceBook:
    """A price list's header and its entries that matter for some products."""

    price_list_id: int
    name: str
    is_active: bool
    valid_from: date | None
    valid_to: date | None
    product_prices: dict[int, Decimal] = field(default_factory=dict)  # product id -> fixed price
    category_percents: dict[int, Decimal] = field(default_factory=dict)  # category id -> percent off

    def applies_on(self, day: date) -> bool:
        return list_applies(is_active=self.is_active, valid_from=self.valid_from, valid_to=self.valid_to, day=day)


def list_applies(*, is_active: bool, valid_from: date | None, valid_to: date | None, day: date) -> bool:
    """Whether a price list applies on `day` (a Shanghai date): active, and `day` within its dates,
    both ends inclusive, an empty end open. Its SQL twin is `applies_on_sql`."""
    return bool(is_active and (valid_from is None or valid_from <= day) and (valid_to is None or day <= valid_to))


@dataclass(frozen=True)
class Quote:
    """A unit price and where it came from: `price_list_id`/`price_list_name` empty for the list price."""

    price: Decimal
    list_price: Decimal
    price_list_id: int | None = None
    price_list_name: str = ""


def list_price_rule(*, base: Decimal, fixed: Decimal | None, percents_nearest_first: list[Decimal | None],
                    applies: bool) -> tuple[Decimal, bool]:
    """THE precedence rule of price lists, pure. Returns (price, whether the list made it).

    1. A list that does not apply today (inactive, before valid_from or after valid_to, in
       Shanghai dates, both ends inclusive) gives the base (catalogue) price.
    2. A product's own entry (a fixed price) beats any category entry.
    3. Otherwise the nearest category's entry (the product's shelf, then its aisle) takes its
       percentage off the base price.
    4. No entry: the base price.
    The result is rounded half up to the fen and never below ¥0.01.
    """
    base = money(base)
    if not applies:
        return base, False
    if fixed is not None:
        return max(money(fixed), CENT), True
    for percent in percents_nearest_first:
        if percent is not None:
            return max(money(base * (HUNDRED - percent) / HUNDRED), CENT), True
    return base, False


def list_price_rule_sql(*, base: str, fixed: str, percents_nearest_first: list[str], applies: str) -> str:
    """`list_price_rule`'s price as a PostgreSQL expression over SQL expressions (numeric(…, 2)
    columns, `applies` a boolean), for reads that build their JSON in the database
    (usuals.list_read). Same steps in the same order; `round(…, 2)` rounds half away from zero as
    ROUND_HALF_UP does, and the division by 100 is exact in both. Its text is the same as
    `str(list_price_rule(...)[0])`: tests/catalog/test_pricing_sql.py proves it on random values."""
    steps = [f"WHEN NOT coalesce({applies}, false) THEN round({base}, 2)",
             f"WHEN {fixed} IS NOT NULL THEN greatest(round({fixed}, 2), 0.01)"]
    steps += [f"WHEN {percent} IS NOT NULL THEN greatest(round({base} * (100 - {percent}) / 100, 2), 0.01)"
              for percent in percents_nearest_first]
    return f"(CASE {' '.join(steps)} ELSE round({base}, 2) END)"


def applies_on_sql(*, is_active: str, valid_from: str, valid_to: str, day: str) -> str:
    """`list_applies` (`PriceBook.applies_on`) as an SQL boolean expression (false for a missing list)."""
    return (f"coalesce({is_active} AND ({valid_from} IS NULL OR {valid_from} <= {day}) "
            f"AND ({valid_to} IS NULL OR {day} <= {valid_to}), false)")


def category_chain(product) -> tuple[int, ...]:
    """The product's category, then its parent: nearest first. Checkout's snapshot carries it;
    a Product needs its category loaded (select_related), as every listing query does."""
    chain = getattr(product, "category_chain", None)
    if chain is not None:
        return chain
    category = product.category
    return (category.pk, category.parent_id) if category.parent_id else (category.pk,)


def price_book(products, buyer: Buyer | None) -> PriceBook | None:
    """The buyer's price list with its entries for these products: one query (none without a list).

    Entries for the products themselves and for their categories and the categories' parents.
    On PostgreSQL one prepared statement (planned once per connection: this runs on every page a
    price-list restaurant opens); elsewhere the same read through the ORM (`_price_book_rows_orm`,
    tested to give the same rows)."""
    if buyer is None or buyer.price_list_id is None:
        return None
    from django.db import connection

    products = list(products)
    product_ids = sorted({product.pk if hasattr(product, "pk") else product.id for product in products})
    category_ids = sorted({pk for product in products for pk in category_chain(product)})
    if connection.vendor == "postgresql":
        from core.sql import id_array

        with connection.cursor() as cursor:
            _price_book_statement().execute(cursor, [id_array(product_ids), id_array(category_ids), buyer.price_list_id])
            rows = cursor.fetchall()
    else:
        rows = _price_book_rows_orm(buyer.price_list_id, product_ids, category_ids)
    # The header LEFT JOINed to the matching entries: a list without entries still comes back.
    header = None
    product_prices, category_percents = {}, {}
    for pk, name, is_active, valid_from, valid_to, product_id, category_id, price, percent in rows:
        header = (pk, name, is_active, valid_from, valid_to)
        if product_id is not None:
            product_prices[product_id] = price
        elif category_id is not None:
            category_percents[category_id] = percent
    if header is None:
        return None
    return PriceBook(*header, product_prices=product_prices, category_percents=category_percents)


def _price_book_rows_orm(price_list_id: int, product_ids, category_ids) -> list[tuple]:
    """price_book's rows through the ORM: (list id, name, is_active, valid_from, valid_to, entry's
    product id, category id, price, percent_off), one row per matching entry or one without."""
    from django.db.models import FilteredRelation, Q

    from .models import PriceList

    matching = Q(entries__product_id__in=product_ids) | Q(entries__category_id__in=category_ids)
    return list(PriceList.objects.filter(pk=price_list_id)
                .annotate(matched=FilteredRelation("entries", condition=matching))
                .values_list("id", "name", "is_active", "valid_from", "valid_to", "matched__product_id",
                             "matched__category_id", "matched__price", "matched__percent_off"))


@lru_cache(maxsize=None)
def _price_book_statement():
    from core.sql import Prepared, column, table

    from .models import PriceList, PriceListEntry

    header = ", ".join(f"l.{column(PriceList, name)}" for name in ("id", "name", "is_active", "valid_from", "valid_to"))
    entry = ", ".join(f"e.{column(PriceListEntry, name)}" for name in ("product", "category", "price", "percent_off"))
    sql = (f"SELECT {header}, {entry} FROM {table(PriceList)} l "
           f"LEFT JOIN {table(PriceListEntry)} e ON e.{column(PriceListEntry, 'price_list')} = l.{column(PriceList, 'id')} "
           f"AND (e.{column(PriceListEntry, 'product')} = ANY(%s) OR e.{column(PriceListEntry, 'category')} = ANY(%s)) "
           f"WHERE l.{column(PriceList, 'id')} = %s")
    return Prepared("catalog_price_book", sql, ("bigint[]", "bigint[]", "bigint"))  # products, categories, list


def price_quote(*, product, buyer: Buyer | None = None, book: PriceBook | None = None,
                today: date | None = None) -> Quote:
    """The price this buyer pays for this product today, and which list made it.

    `book`: the buyer's price book for a set of products including this one (`price_book`);
    without one it is read for this product alone (one query: a product page)."""
    base = money(product.price)
    if buyer is None or buyer.price_list_id is None:
        return Quote(price=base, list_price=base)
    if book is None or book.price_list_id != buyer.price_list_id:
        book = price_book([product], buyer)
        if book is None:
            return Quote(price=base, list_price=base)
    pk = product.pk if hasattr(product, "pk") else product.id
    price, from_list = list_price_rule(
        base=base, fixed=book.product_prices.get(pk),
        percents_nearest_first=[book.category_percents.get(category) for category in category_chain(product)],
        applies=book.applies_on(today or timezone.localdate()),
    )
    if not from_list:
        return Quote(price=base, list_price=base)
    return Quote(price=price, list_price=base, price_list_id=book.price_list_id, price_list_name=book.name)


def unit_price_for(*, product, buyer: Buyer | None = None, book: PriceBook | None = None,
                   today: date | None = None) -> Decimal:
    """The price per sale unit this buyer pays for this product today (see `price_quote`)."""
    return price_quote(product=product, buyer=buyer, book=book, today=today).price


def line_total(*, unit_price: Decimal, quantity: Decimal) -> Decimal:
    return money(unit_price * quantity)


def cart_totals(*, lines, buyer: Buyer | None = None) -> tuple[Decimal, list[str]]:
    """The orderable total of cart lines and the problems ("名称：缺货"), at this buyer's prices."""
    lines = list(lines)
    book = price_book([line.product for line in lines], buyer)
    total = Decimal("0.00")
    problems = []
    for line in lines:
        problem = line_problem(line)
        if problem:
            problems.append(f"{line.product.name}：{problem}")
        else:
            price = unit_price_for(product=line.product, buyer=buyer, book=book)
            total += line_total(unit_price=price, quantity=line.quantity)
    return total, problems


_HEADER = ("name", "is_active", "valid_from", "valid_to")


def with_price_list(products, price_list_id: int | None):
    """A Product queryset annotated with this price list's header and its entries for each row
    (the product's, its category's, the category's parent's): the book comes with the rows, in
    the same statement (`price_book_of_annotated`). Unchanged without a list."""
    if price_list_id is None:
        return products
    from django.db.models import OuterRef, Subquery

    from .models import PriceList, PriceListEntry

    entries = PriceListEntry.objects.filter(price_list_id=price_list_id)
    header = PriceList.objects.filter(pk=price_list_id)
    return products.annotate(
        pl_entry_price=Subquery(entries.filter(product_id=OuterRef("pk")).values("price")[:1]),
        pl_category_percent=Subquery(entries.filter(category_id=OuterRef("category_id")).values("percent_off")[:1]),
        pl_parent_percent=Subquery(entries.filter(category_id=OuterRef("category__parent_id"))
                                   .values("percent_off")[:1]),
        **{f"pl_{name}": Subquery(header.values(name)[:1]) for name in _HEADER},
    )


def price_book_of_annotated(products, price_list_id: int | None) -> PriceBook | None:
    """The PriceBook of products read through `with_price_list` (None: no list, or no rows)."""
    products = list(products)
    if price_list_id is None or not products or products[0].pl_name is None:
        return None
    first = products[0]
    product_prices, category_percents = {}, {}
    for product in products:
        if product.pl_entry_price is not None:
            product_prices[product.pk] = product.pl_entry_price
        chain = category_chain(product)
        for category, percent in zip(chain, (product.pl_category_percent, product.pl_parent_percent)):
            if percent is not None:
                category_percents[category] = percent
    return PriceBook(price_list_id=price_list_id, name=first.pl_name, is_active=first.pl_is_active,
                     valid_from=first.pl_valid_from, valid_to=first.pl_valid_to,
                     product_prices=product_prices, category_percents=category_percents)
