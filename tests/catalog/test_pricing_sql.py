"""The price rule's SQL twin (catalog.pricing.list_price_rule_sql, applies_on_sql) gives the text
of the pure rule (`list_price_rule`, `PriceBook.applies_on`) on random values, edge values included:
fixed prices below a fen, percentages of 0, 100 and more, half-fen results, missing entries."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from catalog.pricing import PriceBook, applies_on_sql, list_price_rule, list_price_rule_sql

pytestmark = pytest.mark.django_db
D = Decimal


def _money(rng) -> Decimal:
    return rng.choice([D("0.01"), D("0.05"), D("0.15"), D("1.00"), D("99999999.99"),
                       D(rng.randint(1, 10**7)) / 100])


def _percent(rng) -> Decimal | None:
    return rng.choice([None, None, D("0"), D("100"), D("150.00"), D("12.5"), D("3.33"), D("99.99"),
                       D(rng.randint(0, 10000)) / 100])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL twin is PostgreSQL's")
def test_the_sql_price_is_the_rule_on_random_values():
    rng = random.Random(16)
    cases = []
    for _ in range(3000):
        fixed = rng.choice([None, None, D("0.00"), D("0.004"), D("0.005"), _money(rng)])
        cases.append((_money(rng), fixed, _percent(rng), _percent(rng), rng.random() < 0.8))
    expression = list_price_rule_sql(base="c.base", fixed="c.fixed", percents_nearest_first=["c.near", "c.far"],
                                     applies="c.applies")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression}::text FROM unnest(%s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], "
            f"%s::boolean[]) WITH ORDINALITY AS c(base, fixed, near, far, applies, n) ORDER BY c.n",
            [list(column) for column in zip(*cases, strict=True)])
        got = [row[0] for row in cursor.fetchall()]
    expected = [str(list_price_rule(base=base, fixed=fixed, percents_nearest_first=[near, far], applies=applies)[0])
                for base, fixed, near, far, applies in cases]
    assert got == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL twin is PostgreSQL's")
def test_the_sql_applies_is_the_rule_on_random_values():
    rng = random.Random(17)
    today = date(2026, 12, 7)

    def day():
        return rng.choice([None, today, today - timedelta(days=1), today + timedelta(days=1),
                           today + timedelta(days=rng.randint(-30, 30))])

    cases = [(rng.random() < 0.7, day(), day(), today + timedelta(days=rng.randint(-2, 2))) for _ in range(500)]
    expression = applies_on_sql(is_active="c.active", valid_from="c.since", valid_to="c.until", day="c.day")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM unnest(%s::boolean[], %s::date[], %s::date[], %s::date[]) WITH ORDINALITY "
            f"AS c(active, since, until, day, n) ORDER BY c.n", [list(column) for column in zip(*cases, strict=True)])
        got = [row[0] for row in cursor.fetchall()]
    expected = [PriceBook(price_list_id=1, name="", is_active=active, valid_from=since, valid_to=until).applies_on(day)
                for active, since, until, day in cases]
    assert got == expected
    with connection.cursor() as cursor:  # no list at all (a LEFT JOIN's NULLs): the list does not apply
        cursor.execute(f"SELECT {applies_on_sql(is_active='NULL::boolean', valid_from='NULL::date', valid_to='NULL::date', day='CURRENT_DATE')}")
        assert cursor.fetchone()[0] is False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the prepared read is PostgreSQL's")
def test_the_prepared_price_book_reads_what_the_orm_reads():
    """price_book's prepared statement and its ORM twin (SQLite) give the same book: entries for
    the products and for their categories only, a list without matching entries, no list."""
    from catalog.models import PriceList, PriceListEntry
    from catalog.pricing import Buyer, _price_book_rows_orm, price_book
    from tests.factories import CategoryFactory, ProductFactory, SubCategoryFactory

    aisle, other = CategoryFactory(), CategoryFactory()
    shelf = SubCategoryFactory(parent=aisle)
    mine = [ProductFactory(category=shelf) for _ in range(3)]
    elsewhere = ProductFactory(category=SubCategoryFactory(parent=other))
    big = PriceList.objects.create(name="大客户价", valid_from=date(2026, 1, 1))
    PriceListEntry.objects.create(price_list=big, product=mine[0], price=D("9.99"))
    PriceListEntry.objects.create(price_list=big, product=elsewhere, price=D("1.00"))
    PriceListEntry.objects.create(price_list=big, category=aisle, percent_off=D("5"))
    PriceListEntry.objects.create(price_list=big, category=other, percent_off=D("7"))
    empty = PriceList.objects.create(name="新客价", is_active=False)
    for price_list, products in ((big, mine), (big, [elsewhere]), (empty, mine)):
        book = price_book(products, Buyer(customer_id=1, price_list_id=price_list.pk))
        ids = sorted(p.pk for p in products)
        chains = sorted({c for p in products for c in (p.category_id, p.category.parent_id) if c})
        rows = _price_book_rows_orm(price_list.pk, ids, chains)
        assert book == PriceBook(*rows[0][:5],
                                 product_prices={r[5]: r[7] for r in rows if r[5] is not None},
                                 category_percents={r[6]: r[8] for r in rows if r[6] is not None})
    assert price_book(mine, Buyer(customer_id=1, price_list_id=big.pk)).product_prices == {mine[0].pk: D("9.99")}
    assert price_book(mine, Buyer(customer_id=1, price_list_id=big.pk)).category_percents == {aisle.pk: D("5")}
    assert price_book(mine, Buyer(customer_id=1, price_list_id=big.pk + empty.pk + 100)) is None
