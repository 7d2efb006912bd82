"""The product list's fast path (catalog.listing): it agrees with the reference serializer and
rule, keeps its freshness rules, and costs a constant number of statements."""

import json
import random
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from catalog.listing import PAGE_MAX_AGE_SECONDS, product_row
from catalog.models import PriceList, PriceListEntry, Product
from catalog.pricing import buyer_of, price_book
from catalog.selectors import product_list
from catalog.serializers import ProductSerializer
from catalog.services import product_set_active
from customers.tokens import visitor_token_make
from logistics.models import Stock
from tests.factories import CategoryFactory, CustomerFactory, SubCategoryFactory, VisitorFactory

pytestmark = pytest.mark.django_db
D = Decimal
PRODUCTS = "/api/v1/catalog/products"


def _bulk_products(n, category, *, rng=None, prefix="冻虾"):
    """n products with stock in two statements (factories would save one by one)."""
    rng = rng or random.Random(n)
    units = [value for value, _ in Product.Unit.choices]
    storages = [value for value, _ in Product.Storage.choices]
    products = []
    for i in range(n):
        catch = rng.random() < 0.2
        product = Product(
            code=f"T{category.pk}-{i:05d}", name=f"{prefix}{i}", category=category, spec=rng.choice(["", "1kg/袋"]),
            unit=rng.choice(units), price=D(rng.randint(1, 99999)) / 100, catch_weight=catch,
            nominal_weight=D(rng.randint(1, 500)) / 100 if catch or rng.random() < 0.3 else None,
            storage=rng.choice(storages), origin=rng.choice(["", "湛江"]), sort_order=rng.randint(0, 3),
            min_quantity=D(rng.choice(["1", "0.5", "2.5"])), step_quantity=D(rng.choice(["1", "0.5"])),
            is_active=rng.random() < 0.9,
        )
        product.refresh_search_key()
        products.append(product)
    products = Product.objects.bulk_create(products)
    stock = []
    for product in products:
        roll = rng.random()
        if roll < 0.1:
            continue  # no stock row at all
        on_hand = D(rng.randint(0, 5000)) / 100
        reserved = on_hand if roll < 0.2 else D(rng.randint(0, int(on_hand * 100))) / 100
        stock.append(Stock(product=product, on_hand=on_hand, reserved=reserved))
    Stock.objects.bulk_create(stock)
    return products


def _visitor_client(customer=None):
    visitor = VisitorFactory(customer=customer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def _reference_page(*, category_id=None, query=None, page=1, size=30, customer=None):
    """The page as the rule defines it: the ORM listing, serialized by ProductSerializer."""
    ids = list(product_list(category_id=category_id, query=query).values_list("pk", flat=True))
    chosen = ids[(page - 1) * size:page * size]
    rows = {p.pk: p for p in Product.objects.filter(pk__in=chosen).select_related("stock", "category")}
    products = [rows[pk] for pk in chosen]
    buyer = buyer_of(customer)
    data = ProductSerializer(products, many=True, context={"buyer": buyer, "book": price_book(products, buyer)}).data
    return len(ids), json.loads(JSONRenderer().render(data))


@pytest.fixture
def catalogue():
    aisle = CategoryFactory(name="冻虾类")
    shelves = [SubCategoryFactory(parent=aisle, name=f"货架{i}", sort_order=i) for i in range(3)]
    rng = random.Random(17)
    for shelf in shelves:
        _bulk_products(25, shelf, rng=rng)
    return aisle, shelves


def _price_list_customer(aisle, shelves):
    big = PriceList.objects.create(name="大客户价")
    some = Product.objects.filter(category=shelves[0]).order_by("id")[:5]
    for product in some:
        PriceListEntry.objects.create(price_list=big, product=product, price=D("9.99"))
    PriceListEntry.objects.create(price_list=big, category=shelves[1], percent_off=D("12.5"))
    PriceListEntry.objects.create(price_list=big, category=aisle, percent_off=D("5"))
    return CustomerFactory(price_list=big)


# -- the fast path agrees with the reference --------------------------------------------------------

def test_product_row_is_the_serializers_text_on_generated_products(catalogue):
    aisle, shelves = catalogue
    customer = _price_list_customer(aisle, shelves)
    pictured = Product.objects.filter(category=shelves[2]).first()
    pictured.image.save("p.jpg", ContentFile(b"not really a jpeg"), save=True)
    products = list(Product.objects.select_related("stock", "category").order_by("id"))
    for buyer in (None, buyer_of(customer)):
        book = price_book(products, buyer)
        reference = ProductSerializer(products, many=True, context={"buyer": buyer, "book": book}).data
        fast = [product_row(p, buyer=buyer, book=book) for p in products]
        assert JSONRenderer().render(fast) == JSONRenderer().render(reference)


@pytest.mark.parametrize("who", ["anonymous", "visitor without a restaurant", "restaurant without a list",
                                 "restaurant with a list"])
def test_pages_and_searches_agree_with_the_reference(catalogue, who):
    aisle, shelves = catalogue
    customer = None
    if who == "anonymous":
        client = APIClient()
    elif who == "visitor without a restaurant":
        client = _visitor_client()
    elif who == "restaurant without a list":
        customer = CustomerFactory()
        client = _visitor_client(customer)
    else:
        customer = _price_list_customer(aisle, shelves)
        client = _visitor_client(customer)
    cases = [dict(category_id=aisle.pk), dict(category_id=aisle.pk, page=2), dict(category_id=shelves[1].pk),
             dict(query="虾1"), dict(query="dx"), dict(query="T"), dict(category_id=aisle.pk, query="虾2", size=7),
             dict(query="没有这个")]
    for case in cases:
        params = {"category": case.get("category_id"), "q": case.get("query"), "page": case.get("page"),
                  "page_size": case.get("size")}
        params = {k: v for k, v in params.items() if v is not None}
        for _ in range(2):  # built, then from the shared cache
            body = client.get(PRODUCTS, params).json()
            count, results = _reference_page(customer=customer, **case)
            assert (body["count"], body["results"]) == (count, results), case


def test_the_fast_path_and_the_drf_view_answer_the_same_bytes(catalogue):
    from catalog.api import ProductListApi

    aisle, _ = catalogue
    client = APIClient()
    fast = client.get(PRODUCTS, {"category": aisle.pk, "page": 2})
    from django.test import RequestFactory

    request = RequestFactory().get(PRODUCTS, {"category": aisle.pk, "page": 2})
    reference = ProductListApi.as_view()(request)
    assert fast.content == reference.content
    assert (fast["Content-Type"], fast["Allow"], fast.has_header("Vary")) == (
        reference["Content-Type"], reference["Allow"], reference.has_header("Vary"))


def test_errors_keep_their_shape_on_the_fast_path(catalogue):
    client = APIClient()
    assert client.get(PRODUCTS, {"category": "abc"}).json()["error"]["code"] == "invalid_parameter"
    assert client.get(PRODUCTS, {"category": 999999}).json()["error"]["code"] == "category_not_found"
    out_of_range = client.get(PRODUCTS, {"page": 99})
    assert out_of_range.status_code == 404 and set(out_of_range.json()["error"]) == {"code", "message", "details"}
    client.credentials(HTTP_AUTHORIZATION="Visitor forged")
    forged = client.get(PRODUCTS)
    assert forged.status_code == 401 and forged.json()["error"]["message"] == "登录已失效，请重新进入"
    assert APIClient().post(PRODUCTS, {}).status_code == 405


# -- freshness rules (catalog.listing, README "Catalogue speed and freshness") ----------------------

def _names(client, **params):
    return [row["name"] for row in client.get(PRODUCTS, params).json()["results"]]


def test_rule_1_off_sale_price_and_category_changes_show_at_once():
    shelf = SubCategoryFactory()
    first, second = _bulk_products(2, shelf, rng=random.Random(1))
    Product.objects.filter(pk__in=[first.pk, second.pk]).update(is_active=True)
    client = APIClient()
    assert _names(client, category=shelf.pk) == _names(client, category=shelf.pk)  # built, then shared
    assert set(_names(client, category=shelf.pk)) == {first.name, second.name}

    product_set_active(product_ids=[first.pk], active=False)
    assert _names(client, category=shelf.pk) == [second.name]

    second = Product.objects.get(pk=second.pk)
    second.price = D("123.45")
    second.save()
    assert client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]["price"] == "123.45"

    shelf.is_active = False
    shelf.save()
    assert client.get(PRODUCTS, {"q": second.name}).json()["count"] == 0


def test_rule_1_a_change_behind_the_versions_back_shows_within_the_max_age():
    shelf = SubCategoryFactory()
    (product,) = _bulk_products(1, shelf, rng=random.Random(2))
    Product.objects.filter(pk=product.pk).update(is_active=True, price=D("10.00"))
    client = APIClient()
    with time_machine.travel(time.time(), tick=False) as clock:
        assert client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]["price"] == "10.00"
        Product.objects.filter(pk=product.pk).update(price=D("11.00"))  # no catalog_changed()
        clock.shift(timedelta(seconds=PAGE_MAX_AGE_SECONDS - 1))
        assert client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]["price"] in {"10.00", "11.00"}
        clock.shift(timedelta(seconds=2))
        assert client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]["price"] == "11.00"


def test_rule_2_stock_is_read_on_every_request(django_assert_max_num_queries):
    shelf = SubCategoryFactory()
    (product,) = _bulk_products(1, shelf, rng=random.Random(3))
    Product.objects.filter(pk=product.pk).update(is_active=True, unit="斤")
    Stock.objects.update_or_create(product=product, defaults={"on_hand": D("10"), "reserved": D("0")})
    client = APIClient()
    client.get(PRODUCTS, {"category": shelf.pk})
    Stock.objects.filter(product=product).update(reserved=D("4"))
    with django_assert_max_num_queries(2):  # the shared page is kept; its stock is read (PREPARE + EXECUTE)
        row = client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]
    assert (row["available"], row["in_stock"], row["stock_label"]) == ("6.00", True, "剩余 6 斤")
    Stock.objects.filter(product=product).update(reserved=D("10"))
    row = client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]
    assert (row["available"], row["in_stock"], row["stock_label"]) == ("0.00", False, "缺货")
    Stock.objects.filter(product=product).delete()
    row = client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]
    assert (row["available"], row["in_stock"]) == ("0", False)


def test_rule_3_price_list_changes_show_on_the_next_request(catalogue):
    aisle, shelves = catalogue
    customer = _price_list_customer(aisle, shelves)
    client = _visitor_client(customer)
    product = Product.objects.filter(category=shelves[2], is_active=True).order_by("sort_order", "id").first()
    before = {r["id"]: r["price"] for r in client.get(PRODUCTS, {"category": shelves[2].pk}).json()["results"]}
    PriceListEntry.objects.create(price_list=customer.price_list, product=product, price=D("1.23"))
    after = {r["id"]: r["price"] for r in client.get(PRODUCTS, {"category": shelves[2].pk}).json()["results"]}
    assert before[product.pk] != "1.23" and after[product.pk] == "1.23"
    # Anonymous visitors share the catalogue-price page, untouched by the list.
    anonymous = {r["id"]: r["price"] for r in APIClient().get(PRODUCTS, {"category": shelves[2].pk}).json()["results"]}
    assert anonymous[product.pk] == f"{Product.objects.get(pk=product.pk).price:.2f}"
    customer.price_list = None
    customer.save()
    again = {r["id"]: r["price"] for r in client.get(PRODUCTS, {"category": shelves[2].pk}).json()["results"]}
    assert again == anonymous


# -- statements per request: 10 vs 1,000 rows -------------------------------------------------------

@pytest.mark.parametrize("n", [10, 1000])
def test_listing_statements_do_not_grow_with_the_catalogue(n, django_assert_max_num_queries):
    aisle = CategoryFactory()
    shelves = [SubCategoryFactory(parent=aisle, sort_order=i) for i in range(2)]
    rng = random.Random(n)
    for shelf in shelves:
        _bulk_products(n // 2, shelf, rng=rng)
    Product.objects.update(is_active=True)
    customer = _price_list_customer(aisle, shelves)
    requests = [{"category": aisle.pk}, {"category": aisle.pk, "page": 2, "page_size": 3},
                {"category": shelves[0].pk}, {"q": "虾"}, {"q": "dx1"}, {"q": "T"}]
    listed = _visitor_client(customer)
    for params in requests:
        anonymous = APIClient()
        with django_assert_max_num_queries(5):  # built: the version, category, shelves, the page's ids, its rows
            anonymous.get(PRODUCTS, params)
        with django_assert_max_num_queries(2):  # kept: the page's stock and version (PREPARE + EXECUTE in a test)
            anonymous.get(PRODUCTS, params)
        with django_assert_max_num_queries(4):  # a list's customer: visitor, price book, stock (PREPARE + EXECUTE)
            listed.get(PRODUCTS, params)


def test_rule_3_a_price_list_page_is_the_shared_page_repriced(catalogue, django_assert_max_num_queries):
    """A list's customer reads the page everyone shares (no product rows), plus its own book."""
    aisle, shelves = catalogue
    customer = _price_list_customer(aisle, shelves)
    client = _visitor_client(customer)
    APIClient().get(PRODUCTS, {"category": aisle.pk})  # an anonymous visitor builds the shared page
    with django_assert_max_num_queries(4):  # visitor, price book, stock (PREPARE + EXECUTE in a test)
        body = client.get(PRODUCTS, {"category": aisle.pk}).json()
    count, reference = _reference_page(category_id=aisle.pk, customer=customer)
    assert (body["count"], body["results"]) == (count, reference)
    # A list out of its dates gives catalogue prices on the next request.
    customer.price_list.valid_to = timezone.localdate() - timedelta(days=1)
    customer.price_list.save()
    anonymous = APIClient().get(PRODUCTS, {"category": aisle.pk}).json()["results"]
    assert client.get(PRODUCTS, {"category": aisle.pk}).json()["results"] == anonymous


# -- the category tree: shared, kept per catalogue version -------------------------------------------

CATEGORIES = "/api/v1/catalog/categories"


def test_categories_are_kept_and_follow_every_category_change(django_assert_max_num_queries):
    aisle = CategoryFactory(name="冻虾类")
    shelf = SubCategoryFactory(parent=aisle, name="虾仁", sort_order=5)
    client = APIClient()
    first = client.get(CATEGORIES).json()
    with django_assert_max_num_queries(0):
        assert client.get(CATEGORIES).json() == first
    assert [(item["name"], [child["name"] for child in item["children"]]) for item in first] == [("冻虾类", ["虾仁"])]

    shelf.name = "大虾仁"
    shelf.save()
    assert client.get(CATEGORIES).json()[0]["children"] == [{"id": shelf.pk, "name": "大虾仁"}]
    SubCategoryFactory(parent=aisle, name="虾滑", sort_order=1)
    assert [child["name"] for child in client.get(CATEGORIES).json()[0]["children"]] == ["虾滑", "大虾仁"]
    aisle.is_active = False
    aisle.save()
    assert client.get(CATEGORIES).json() == []


def test_categories_changed_behind_the_versions_back_show_within_the_max_age():
    from catalog.models import Category

    aisle = CategoryFactory(name="冻虾类")
    client = APIClient()
    with time_machine.travel(time.time(), tick=False) as clock:
        assert client.get(CATEGORIES).json()[0]["name"] == "冻虾类"
        Category.objects.filter(pk=aisle.pk).update(name="冻鱼类")  # no catalog_changed()
        clock.shift(timedelta(seconds=PAGE_MAX_AGE_SECONDS + 1))
        assert client.get(CATEGORIES).json()[0]["name"] == "冻鱼类"


def test_categories_answer_drfs_bytes_and_keep_its_errors():
    from catalog.selectors import category_tree
    from catalog.serializers import CategorySerializer

    aisle = CategoryFactory(name='冻虾"类')
    SubCategoryFactory(parent=aisle, name="虾仁\\二号")
    reference = JSONRenderer().render(CategorySerializer(category_tree(), many=True).data)
    fast = APIClient().get(CATEGORIES)
    assert (fast.status_code, fast.content, fast["Content-Type"]) == (200, reference, "application/json")
    assert APIClient().head(CATEGORIES).status_code == 200  # HEAD through the DRF view
    visitor = VisitorFactory()
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    assert with_token.get(CATEGORIES).content == reference
    for header in ("Visitor forged.token", "Visitor", "Bearer abc"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        answer = client.get(CATEGORIES)
        if header == "Bearer abc":  # not a visitor token: anonymous, as DRF treats it
            assert answer.status_code == 200
        else:
            assert answer.status_code == 401 and answer.json()["error"]["message"] == "登录已失效，请重新进入"


# -- the kept pages on PostgreSQL: the version comes with the stock -----------------------------------

@pytest.mark.skipif(connection.vendor != "postgresql", reason="the version sequence is PostgreSQL's")
def test_the_version_comes_with_the_stock_and_every_catalogue_change_moves_it(django_capture_on_commit_callbacks):
    from catalog.cache import catalog_changed
    from catalog.listing import version_and_stock

    shelf = SubCategoryFactory()
    with_stock, without = _bulk_products(2, shelf, rng=random.Random(5))
    Stock.objects.filter(product=without).delete()
    Stock.objects.update_or_create(product=with_stock, defaults={"on_hand": D("7"), "reserved": D("2")})
    version, stock = version_and_stock([with_stock.pk, without.pk])
    assert stock == {with_stock.pk: D("5.00")}
    assert version_and_stock([]) == (version, {})
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            catalog_changed()
            moved, _ = version_and_stock([])
    assert moved > version  # at the change
    assert version_and_stock([])[0] > moved  # and again at the commit


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pages are kept per worker on PostgreSQL")
def test_a_kept_page_is_rebuilt_when_the_version_moved_and_the_worker_keeps_a_bounded_number(monkeypatch):
    from catalog import listing

    shelf = SubCategoryFactory()
    first, second = _bulk_products(2, shelf, rng=random.Random(6))
    Product.objects.filter(pk__in=[first.pk, second.pk]).update(is_active=True)
    client = APIClient()
    assert set(_names(client, category=shelf.pk)) == {first.name, second.name}
    Product.objects.filter(pk=first.pk).update(is_active=False)  # behind the version's back: still kept
    assert set(_names(client, category=shelf.pk)) == {first.name, second.name}
    from catalog.cache import catalog_changed

    catalog_changed()  # as another worker's change would: this worker's kept page is retired
    assert _names(client, category=shelf.pk) == [second.name]

    monkeypatch.setattr(listing, "LOCAL_PAGES_MAX", 2)
    listing.forget_local_pages()
    for page_size in (1, 2, 3, 4, 5):
        client.get(PRODUCTS, {"category": shelf.pk, "page_size": page_size})
        assert len(listing._LOCAL) <= 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pages are kept per worker on PostgreSQL")
def test_a_page_only_too_old_is_rebuilt_by_one_thread_while_the_others_serve_it(monkeypatch, django_assert_num_queries):
    """Rule 1's bound for a change behind the version's back: while one thread of the worker
    rebuilds a page that is only too old (same version), the others serve the kept page with
    today's stock (one statement) instead of all rebuilding it; then the rebuilt page answers. A
    moved version is never served from the old page, claimed or not."""
    from catalog import listing
    from catalog.cache import catalog_changed

    shelf = SubCategoryFactory()
    (product,) = _bulk_products(1, shelf, rng=random.Random(8))
    Product.objects.filter(pk=product.pk).update(is_active=True, price=D("10.00"))
    client = APIClient()

    def price():
        return client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]["price"]

    with time_machine.travel(time.time(), tick=False) as clock:
        assert price() == "10.00"
        Product.objects.filter(pk=product.pk).update(price=D("11.00"))  # no catalog_changed()
        Stock.objects.update_or_create(product=product, defaults={"on_hand": D("7"), "reserved": D("0")})
        clock.shift(timedelta(seconds=PAGE_MAX_AGE_SECONDS + 1))
        monkeypatch.setattr(listing, "_claim", lambda key: False)  # another thread is rebuilding it
        with django_assert_num_queries(1):
            row = client.get(PRODUCTS, {"category": shelf.pk}).json()["results"][0]
        assert row["price"] == "10.00" and row["available"] == "7.00"  # the kept page, today's stock
        monkeypatch.undo()
        assert price() == "11.00" and listing._REBUILDING == set()  # rebuilt, and the claim released
        Product.objects.filter(pk=product.pk).update(price=D("12.00"))
        catalog_changed()
        monkeypatch.setattr(listing, "_claim", lambda key: False)
        assert price() == "12.00"  # the version moved: rebuilt at once


def test_names_with_the_javascript_line_separators_are_written_as_drf_writes_them():
    """DRF's renderer escapes U+2028 and U+2029 (they end a line in older JavaScript); the kept
    pages' rows and the category tree do too, byte for byte with the DRF views."""
    from django.test import RequestFactory

    from catalog.api import ProductListApi
    from catalog.selectors import category_tree
    from catalog.serializers import CategorySerializer

    shelf = SubCategoryFactory(name="冻虾\u2028类")
    (product,) = _bulk_products(1, shelf, rng=random.Random(9))
    Product.objects.filter(pk=product.pk).update(is_active=True, name="虾\u2028滑\u2029", spec="1\u2028kg")
    fast = APIClient().get(PRODUCTS, {"category": shelf.pk})
    reference = ProductListApi.as_view()(RequestFactory().get(PRODUCTS, {"category": shelf.pk}))
    assert fast.content == reference.content
    assert b"\\u2028" in fast.content and "\u2028".encode() not in fast.content
    assert fast.json()["results"][0]["name"] == "虾\u2028滑\u2029"
    categories = APIClient().get(CATEGORIES)
    assert categories.content == JSONRenderer().render(CategorySerializer(category_tree(), many=True).data)
