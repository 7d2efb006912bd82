"""Price lists: the precedence rule, its dates in Shanghai time, and the same price on every path."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from catalog.models import PriceList, PriceListEntry, Product
from catalog.pricing import Buyer, PriceBook, buyer_of, list_price_rule, price_book, price_quote
from catalog.services import cart_line_set
from customers.tokens import visitor_token_make
from orders.models import Order, OrderLine, OrderSettings
from tests.factories import CategoryFactory, CustomerFactory, SubCategoryFactory, VisitorFactory, product_with_stock

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = Decimal


# -- the rule, pure ---------------------------------------------------------------------------------

def test_product_entry_beats_category_entries_and_the_nearest_category_wins():
    assert list_price_rule(base=D("100"), fixed=D("80"), percents_nearest_first=[D("50"), D("10")],
                           applies=True) == (D("80.00"), True)
    assert list_price_rule(base=D("100"), fixed=None, percents_nearest_first=[D("5"), D("10")],
                           applies=True) == (D("95.00"), True)
    assert list_price_rule(base=D("100"), fixed=None, percents_nearest_first=[None, D("10")],
                           applies=True) == (D("90.00"), True)
    assert list_price_rule(base=D("100"), fixed=None, percents_nearest_first=[None, None],
                           applies=True) == (D("100.00"), False)


def test_a_list_that_does_not_apply_gives_the_base_price():
    assert list_price_rule(base=D("100"), fixed=D("80"), percents_nearest_first=[D("5")],
                           applies=False) == (D("100.00"), False)


def test_rounded_half_up_to_the_fen_and_never_below_a_fen():
    assert list_price_rule(base=D("18.55"), fixed=None, percents_nearest_first=[D("10")],
                           applies=True) == (D("16.70"), True)  # 16.695 -> 16.70
    assert list_price_rule(base=D("0.01"), fixed=None, percents_nearest_first=[D("100")],
                           applies=True) == (D("0.01"), True)


@pytest.mark.parametrize(("day", "applies"), [
    (date(2026, 3, 31), False), (date(2026, 4, 1), True), (date(2026, 4, 30), True), (date(2026, 5, 1), False)])
def test_valid_dates_are_inclusive(day, applies):
    book = PriceBook(price_list_id=1, name="大客户价", is_active=True, valid_from=date(2026, 4, 1),
                     valid_to=date(2026, 4, 30))
    assert book.applies_on(day) is applies
    inactive = PriceBook(price_list_id=1, name="大客户价", is_active=False, valid_from=None, valid_to=None)
    assert inactive.applies_on(day) is False


# -- with the database ------------------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytest.fixture
def world(db):
    aisle = CategoryFactory(name="冻虾类")
    shelf = SubCategoryFactory(name="虾仁", parent=aisle)
    other_shelf = SubCategoryFactory(name="整虾", parent=aisle)
    shrimp = product_with_stock(name="去皮虾仁", price="45.50", on_hand="50", category=shelf)
    prawn = product_with_stock(name="黑虎虾", price="60.00", on_hand="50", category=other_shelf)
    squid = product_with_stock(name="冻鱿鱼须", price="20.00", on_hand="50", category=shelf)
    plain = product_with_stock(name="带鱼段", price="30.00", on_hand="50")
    big = PriceList.objects.create(name="大客户价")
    PriceListEntry.objects.create(price_list=big, product=shrimp, price=D("40.00"))
    PriceListEntry.objects.create(price_list=big, category=shelf, percent_off=D("10"))
    PriceListEntry.objects.create(price_list=big, category=aisle, percent_off=D("5"))
    customer = CustomerFactory(name="火锅城", price_list=big)
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    rules = OrderSettings.current()
    rules.min_order_amount = D("0.01")
    rules.save()
    return dict(shrimp=shrimp, prawn=prawn, squid=squid, plain=plain, big=big, customer=customer, visitor=visitor)


EXPECTED = {"shrimp": D("40.00"), "prawn": D("57.00"), "squid": D("18.00"), "plain": D("30.00")}


def client_for(visitor=None):
    client = APIClient()
    if visitor is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def _loaded(*products):
    return list(Product.objects.select_related("category", "stock").filter(pk__in=[p.pk for p in products]))


@pytest.mark.django_db
def test_a_page_of_products_is_priced_from_one_query(world, django_assert_num_queries):
    buyer = buyer_of(world["customer"])
    products = _loaded(world["shrimp"], world["prawn"], world["squid"], world["plain"])
    price_book(products, buyer)  # prepared once per connection on PostgreSQL (PREPARE, then EXECUTE)
    with django_assert_num_queries(1):
        book = price_book(products, buyer)
    with django_assert_num_queries(0):
        prices = {p.name: price_quote(product=p, buyer=buyer, book=book).price for p in products}
    assert prices == {"去皮虾仁": D("40.00"), "黑虎虾": D("57.00"), "冻鱿鱼须": D("18.00"), "带鱼段": D("30.00")}


@pytest.mark.django_db
def test_buyer_of_a_row_and_of_an_id_agree(world):
    assert buyer_of(world["customer"]) == buyer_of(world["customer"].pk) == Buyer(
        customer_id=world["customer"].pk, price_list_id=world["big"].pk)


@pytest.mark.django_db
def test_the_same_price_in_listing_product_page_cart_quote_checkout_and_reorder(world):
    client = client_for(world["visitor"])
    names = {key: world[key].name for key in EXPECTED}
    expected = {names[key]: str(price) for key, price in EXPECTED.items()}

    listing = client.get("/api/v1/catalog/products", {"page_size": 50}).json()["results"]
    assert {p["name"]: p["price"] for p in listing if p["name"] in expected} == expected
    for key in EXPECTED:
        page = client.get(f"/api/v1/catalog/products/{world[key].code}").json()
        assert page["price"] == str(EXPECTED[key])
    for key in EXPECTED:
        cart_line_set(visitor=world["visitor"], product_id=world[key].pk, quantity="2")
    cart = client.get("/api/v1/cart").json()
    assert {line["product"]["name"]: line["unit_price"] for line in cart["lines"]} == expected
    assert {line["product"]["name"]: line["product"]["price"] for line in cart["lines"]} == expected
    quote = client.get("/api/v1/checkout").json()
    assert {line["product"]["name"]: line["unit_price"] for line in quote["lines"]} == expected
    assert quote["subtotal"] == str(sum(price * 2 for price in EXPECTED.values()))

    response = client.post("/api/v1/orders", {
        "restaurant_name": "火锅城", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号", "district": "福田区",
        "latitude": "22.541234", "longitude": "114.061234", "idempotency_key": uuid.uuid4().hex}, format="json")
    assert response.status_code == 201, response.content
    lines = {line.product_name: line for line in OrderLine.objects.all()}
    assert {name: str(line.unit_price) for name, line in lines.items()} == expected
    assert lines["去皮虾仁"].list_price == D("45.50") and lines["去皮虾仁"].price_list_id == world["big"].pk
    assert lines["去皮虾仁"].price_list_name == "大客户价"
    assert lines["带鱼段"].price_list_id is None and lines["带鱼段"].list_price == D("30.00")

    order = Order.objects.get()
    reorder = client.post(f"/api/v1/orders/{order.pk}/reorder").json()
    assert {line["product"]["name"]: line["unit_price"] for line in reorder["cart"]["lines"]} == expected


@pytest.mark.django_db
def test_anonymous_and_unbound_visitors_see_the_list_price(world):
    listing = client_for().get("/api/v1/catalog/products", {"page_size": 50}).json()["results"]
    assert {p["name"]: p["price"] for p in listing}[world["shrimp"].name] == "45.50"
    stranger = VisitorFactory()
    assert client_for(stranger).get(f"/api/v1/catalog/products/{world['shrimp'].code}").json()["price"] == "45.50"


@pytest.mark.django_db
def test_a_price_change_between_cart_and_checkout_charges_the_current_price(world):
    cart_line_set(visitor=world["visitor"], product_id=world["shrimp"].pk, quantity="2")
    cart_line_set(visitor=world["visitor"], product_id=world["squid"].pk, quantity="2")
    client = client_for(world["visitor"])
    assert client.get("/api/v1/cart").json()["total"] == "116.00"
    PriceListEntry.objects.filter(price_list=world["big"], product=world["shrimp"]).update(price=D("38.00"))
    Product.objects.filter(pk=world["squid"].pk).update(price=D("30.00"))  # 10% off: 27.00

    response = client.post("/api/v1/orders", {
        "restaurant_name": "火锅城", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
        "latitude": "22.541234", "longitude": "114.061234", "idempotency_key": uuid.uuid4().hex}, format="json")

    assert response.status_code == 201, response.content
    assert Order.objects.get().subtotal == D("130.00")
    assert {line.product_name: line.unit_price for line in OrderLine.objects.all()} == {
        "去皮虾仁": D("38.00"), "冻鱿鱼须": D("27.00")}


@pytest.mark.django_db
@pytest.mark.parametrize(("utc_moment", "charged"), [
    (datetime(2026, 4, 30, 15, 59), D("40.00")),  # 23:59 on the 30th in Shanghai: still valid
    (datetime(2026, 4, 30, 16, 0), D("45.50")),  # 00:00 on 1 May in Shanghai: expired
    (datetime(2026, 3, 31, 15, 59), D("45.50")),  # 23:59 on 31 March: not yet
    (datetime(2026, 3, 31, 16, 0), D("40.00")),  # 00:00 on 1 April: from today
])
def test_checkout_applies_the_dates_in_shanghai_time(world, utc_moment, charged):
    PriceList.objects.filter(pk=world["big"].pk).update(valid_from=date(2026, 4, 1), valid_to=date(2026, 4, 30))
    with time_machine.travel(utc_moment.replace(tzinfo=ZoneInfo("UTC")), tick=False):
        response = client_for(world["visitor"]).post("/api/v1/orders", {
            "restaurant_name": "火锅城", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
            "latitude": "22.541234", "longitude": "114.061234", "idempotency_key": uuid.uuid4().hex,
            "lines": [{"product_id": world["shrimp"].pk, "quantity": "1"}]}, format="json")
        listed = client_for(world["visitor"]).get(f"/api/v1/catalog/products/{world['shrimp'].code}").json()
    assert response.status_code == 201, response.content
    assert OrderLine.objects.get().unit_price == charged
    assert listed["price"] == str(charged)


@pytest.mark.django_db
def test_an_inactive_list_gives_the_base_price_everywhere(world):
    PriceList.objects.filter(pk=world["big"].pk).update(is_active=False)
    client = client_for(world["visitor"])
    assert client.get(f"/api/v1/catalog/products/{world['shrimp'].code}").json()["price"] == "45.50"
    response = client.post("/api/v1/orders", {
        "restaurant_name": "火锅城", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
        "latitude": "22.541234", "longitude": "114.061234", "idempotency_key": uuid.uuid4().hex,
        "lines": [{"product_id": world["shrimp"].pk, "quantity": "1"}]}, format="json")
    assert response.status_code == 201, response.content
    line = OrderLine.objects.get()
    assert (line.unit_price, line.list_price, line.price_list_id) == (D("45.50"), D("45.50"), None)


@pytest.mark.django_db
def test_after_the_phone_binds_a_customer_with_a_list_checkout_reprices(world):
    visitor = VisitorFactory()
    cart_line_set(visitor=visitor, product_id=world["shrimp"].pk, quantity="1")
    assert client_for(visitor).get("/api/v1/cart").json()["lines"][0]["unit_price"] == "45.50"
    visitor.customer = world["customer"]  # what binding the phone does
    visitor.save()
    response = client_for(visitor).post("/api/v1/orders", {
        "restaurant_name": "火锅城", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
        "latitude": "22.541234", "longitude": "114.061234", "idempotency_key": uuid.uuid4().hex}, format="json")
    assert response.status_code == 201, response.content
    assert OrderLine.objects.get().unit_price == D("40.00")


@pytest.mark.django_db
def test_listing_with_a_price_list_runs_a_constant_number_of_queries(world, django_assert_max_num_queries):
    for n in range(20):
        product_with_stock(name=f"冻品{n}", category=world["squid"].category)
    client = client_for(world["visitor"])
    with django_assert_max_num_queries(6):  # visitor, buyer, page ids + count, rows, price book
        response = client.get("/api/v1/catalog/products", {"page_size": 50})
    assert len(response.json()["results"]) == 24
