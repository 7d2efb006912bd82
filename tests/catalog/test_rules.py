"""One orderable rule (catalog.rules.orderable): the listing's ORM filter, the cart's check on a
loaded product and checkout's SQL read all agree with it, for every combination of flags."""

import itertools

import pytest

from catalog.models import Product
from catalog.pricing import buyer_of
from catalog.rules import orderable, product_orderable
from core.sql import Transaction
from orders.services.checkout_store import products_lock, snapshot_read
from tests.factories import CategoryFactory, CustomerFactory, VisitorFactory, product_with_stock

pytestmark = pytest.mark.django_db

# (product on, category on, aisle above: None for a top-level category, else on/off)
COMBINATIONS = list(itertools.product([True, False], [True, False], [None, True, False]))


@pytest.fixture
def products():
    made = {}
    for product_active, category_active, parent_active in COMBINATIONS:
        parent = None if parent_active is None else CategoryFactory(is_active=parent_active)
        category = CategoryFactory(parent=parent, is_active=category_active)
        made[(product_active, category_active, parent_active)] = product_with_stock(
            category=category, is_active=product_active)
    return made


def test_the_rule_itself():
    assert [combo for combo in COMBINATIONS if orderable(product_active=combo[0], category_active=combo[1],
                                                         parent_active=combo[2])] == [(True, True, None),
                                                                                      (True, True, True)]


def test_every_path_agrees_with_the_rule(products):
    listed = set(Product.objects.active().values_list("pk", flat=True))
    with Transaction() as tx:
        read = products_lock(tx, [product.pk for product in products.values()])
    for (product_active, category_active, parent_active), product in products.items():
        expected = orderable(product_active=product_active, category_active=category_active,
                             parent_active=parent_active)
        loaded = Product.objects.select_related("category__parent").get(pk=product.pk)
        assert (product.pk in listed) is expected, "ProductQuerySet.active"
        assert product_orderable(loaded) is expected, "catalog.rules.product_orderable"
        assert read[product.pk].orderable is expected, "checkout's read"


def test_checkout_prices_for_the_same_buyer_as_every_other_path():
    customer = CustomerFactory()
    visitor = VisitorFactory(customer=customer)
    product = product_with_stock()
    with Transaction() as tx:
        snapshot = snapshot_read(tx, visitor_id=visitor.pk, idempotency_key="key-buyer-1", basket=None,
                                 contended=False, now=None)
    assert snapshot.customer.buyer == buyer_of(customer) == buyer_of(customer.pk)
    assert product.pk not in snapshot.products  # the cart is empty


@pytest.mark.parametrize("together", [False, True])
def test_checkout_reads_the_same_price_list_and_book_as_every_other_path(together):
    from catalog.models import PriceList, PriceListEntry, Product
    from catalog.pricing import price_book
    from orders.services.checkout_rules import BasketLine

    price_list = PriceList.objects.create(name="连锁店价")
    customer = CustomerFactory(price_list=price_list)
    visitor = VisitorFactory(customer=customer)
    product = product_with_stock(price="50.00")
    other = product_with_stock(price="30.00")
    PriceListEntry.objects.create(price_list=price_list, product=product, price="44.00")
    PriceListEntry.objects.create(price_list=price_list, category=other.category, percent_off="10")
    PriceListEntry.objects.create(price_list=price_list, category=other.category.parent, percent_off="3")
    basket = [BasketLine(product_id=product.pk, quantity=1), BasketLine(product_id=other.pk, quantity=1)]
    if not together:  # the cart's lines, read after the visitor (two statements)
        from catalog.services import cart_line_set

        for line in basket:
            cart_line_set(visitor=visitor, product_id=line.product_id, quantity="1")
    with Transaction() as tx:
        snapshot = snapshot_read(tx, visitor_id=visitor.pk, idempotency_key="key-buyer-2",
                                 basket=basket if together else None, contended=False, now=None)
    book = snapshot.prices
    assert snapshot.customer.buyer == buyer_of(customer) == buyer_of(customer.pk)
    loaded = Product.objects.select_related("category").filter(pk__in=[product.pk, other.pk])
    orm_book = price_book(loaded, buyer_of(customer))
    assert book == orm_book
