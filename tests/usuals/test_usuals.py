"""我的常购: ranking on known histories, usual quantities, add to cart with reasons, pin/hide, queries."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import CartLine, PriceList, PriceListEntry, Product
from customers.tokens import visitor_token_make
from logistics.models import Stock
from orders.models import Order, OrderLine
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock
from usuals.models import UsualMark, UsualSettings
from usuals.selectors import usual_quantity

pytestmark = pytest.mark.django_db
D = Decimal
_numbers = itertools.count(1)


def paid_order(customer, items, *, days_ago, status=Order.Status.DELIVERED, paid=True):
    """An order paid `days_ago` days ago with (product, quantity) lines."""
    n = next(_numbers)
    moment = timezone.now() - timedelta(days=days_ago)
    order = Order.objects.create(
        number=f"U{n:08d}", customer=customer, visitor=customer.visitors.first() or VisitorFactory(customer=customer),
        status=status, idempotency_key=f"usual-{n}",
        delivery_date=moment.date(), subtotal=D("1"), total=D("1"), restaurant_name=customer.name,
        phone=customer.phone, address="深圳", latitude=D("22.54"), longitude=D("114.06"),
        expires_at=moment, paid_at=moment if paid else None)
    for product, quantity in items:
        OrderLine.objects.create(order=order, product=product, product_code=product.code, product_name=product.name,
                                 unit=product.unit, unit_price=product.price, quantity=D(quantity),
                                 amount=product.price * D(quantity))
    return order


def client_for(visitor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


@pytest.fixture
def shop():
    customer = CustomerFactory(name="火锅城")
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    names = ["虾滑", "肥牛卷", "鱿鱼须", "带鱼段", "黄花鱼", "帝王蟹"]
    products = {name: product_with_stock(name=name, price="20.00", on_hand="100", min_quantity="2",
                                         step_quantity="0.5") for name in names}
    return customer, visitor, products


def names_of(response):
    return [item["product"]["name"] for item in response.json()["items"]]


def test_ranking_by_frequency_then_recency_within_the_window(shop):
    customer, visitor, p = shop
    for days in (1, 8, 15, 22, 29):
        paid_order(customer, [(p["虾滑"], "3")], days_ago=days)
    for days in (2, 9, 16):
        paid_order(customer, [(p["肥牛卷"], "2")], days_ago=days)
    for days in (30, 40, 50):
        paid_order(customer, [(p["鱿鱼须"], "2")], days_ago=days)
    paid_order(customer, [(p["带鱼段"], "2")], days_ago=95)  # outside the 90 days
    paid_order(customer, [(p["黄花鱼"], "2")], days_ago=3, status=Order.Status.CANCELLED)
    paid_order(customer, [(p["帝王蟹"], "2")], days_ago=3, status=Order.Status.PENDING_PAYMENT, paid=False)

    response = client_for(visitor).get("/api/v1/usuals")

    assert response.status_code == 200
    assert names_of(response) == ["虾滑", "肥牛卷", "鱿鱼须"]
    first = response.json()["items"][0]
    assert first["times"] == 5 and first["usual_quantity"] == "3.00" and first["problem"] == ""

    UsualSettings.objects.update_or_create(pk=1, defaults={"window_days": 120})
    assert names_of(client_for(visitor).get("/api/v1/usuals")) == ["虾滑", "肥牛卷", "鱿鱼须", "带鱼段"]


def test_usual_quantity_is_the_median_fitted_to_min_and_step():
    assert usual_quantity([D("2"), D("3"), D("3"), D("10")], minimum=D("2"), step=D("0.5")) == D("3")
    assert usual_quantity([D("3.7")], minimum=D("2"), step=D("0.5")) == D("3.5")
    assert usual_quantity([D("1")], minimum=D("2"), step=D("0.5")) == D("2")
    assert usual_quantity([], minimum=D("2"), step=D("0.5")) == D("2")


def test_pin_and_hide(shop):
    customer, visitor, p = shop
    for days in (1, 2, 3):
        paid_order(customer, [(p["虾滑"], "3"), (p["肥牛卷"], "2")], days_ago=days)
    paid_order(customer, [(p["鱿鱼须"], "2")], days_ago=4)
    client = client_for(visitor)

    assert client.patch(f"/api/v1/usuals/{p['鱿鱼须'].pk}", {"state": "pinned"}, format="json").json() == {
        "product_id": p["鱿鱼须"].pk, "state": "pinned"}
    client.patch(f"/api/v1/usuals/{p['帝王蟹'].pk}", {"state": "pinned"}, format="json")  # never bought
    client.patch(f"/api/v1/usuals/{p['虾滑'].pk}", {"state": "hidden"}, format="json")
    items = client.get("/api/v1/usuals").json()["items"]
    assert [(i["product"]["name"], i["pinned"]) for i in items] == [("鱿鱼须", True), ("帝王蟹", True),
                                                                     ("肥牛卷", False)]
    assert items[1]["usual_quantity"] == "2.00" and items[1]["times"] == 0

    client.patch(f"/api/v1/usuals/{p['虾滑'].pk}", {"state": "normal"}, format="json")
    assert "虾滑" in names_of(client.get("/api/v1/usuals"))


def test_a_bad_mark_is_refused_and_changes_nothing(shop):
    customer, visitor, p = shop
    client = client_for(visitor)
    assert client.patch(f"/api/v1/usuals/{p['虾滑'].pk}", {"state": "top"}, format="json").status_code == 400
    assert client.patch("/api/v1/usuals/999999", {"state": "pinned"}, format="json").status_code == 404
    assert not UsualMark.objects.exists()


def test_add_all_adds_usual_quantities_and_skips_what_cannot_be_bought_with_the_reason(shop):
    customer, visitor, p = shop
    for days in (1, 2, 3):
        paid_order(customer, [(p["虾滑"], "3"), (p["肥牛卷"], "2.5"), (p["鱿鱼须"], "2"), (p["带鱼段"], "4")],
                   days_ago=days)
    Product.objects.filter(pk=p["鱿鱼须"].pk).update(is_active=False)
    Stock.objects.filter(product=p["带鱼段"]).update(on_hand=D("0"))
    Stock.objects.filter(product=p["肥牛卷"]).update(on_hand=D("2"))

    response = client_for(visitor).post("/api/v1/usuals/add", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {(n["name"], n["reason"]) for n in body["notes"]} == {("鱿鱼须", "off_sale"), ("带鱼段", "out_of_stock"),
                                                                 ("肥牛卷", "reduced")}
    assert {line.product.name: line.quantity for line in CartLine.objects.select_related("product")} == {
        "虾滑": D("3.00"), "肥牛卷": D("2.00")}


def test_add_chosen_lines_only(shop):
    customer, visitor, p = shop
    paid_order(customer, [(p["虾滑"], "3"), (p["肥牛卷"], "2")], days_ago=1)
    response = client_for(visitor).post("/api/v1/usuals/add", {"product_ids": [p["肥牛卷"].pk, p["帝王蟹"].pk]},
                                        format="json")
    assert response.status_code == 200
    assert [n["reason"] for n in response.json()["notes"]] == ["not_usual"]
    assert list(CartLine.objects.values_list("product__name", "quantity")) == [("肥牛卷", D("2.00"))]


def test_a_visitor_without_a_restaurant_gets_an_empty_list_and_cannot_add():
    visitor = VisitorFactory()
    client = client_for(visitor)
    assert client.get("/api/v1/usuals").json() == {"items": []}
    response = client.post("/api/v1/usuals/add", {}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "phone_required"
    assert not CartLine.objects.exists()


def test_prices_are_the_customers_price_list_prices(shop):
    customer, visitor, p = shop
    price_list = PriceList.objects.create(name="大客户价")
    PriceListEntry.objects.create(price_list=price_list, product=p["虾滑"], price=D("15.00"))
    PriceListEntry.objects.create(price_list=price_list, category=p["肥牛卷"].category, percent_off=D("10"))
    customer.price_list = price_list
    customer.save()
    paid_order(customer, [(p["虾滑"], "3"), (p["肥牛卷"], "2")], days_ago=1)
    items = client_for(visitor).get("/api/v1/usuals").json()["items"]
    prices = {i["product"]["name"]: (i["unit_price"], i["product"]["price"]) for i in items}
    assert prices == {"虾滑": ("15.00", "15.00"), "肥牛卷": ("18.00", "18.00")}
    product_page = client_for(visitor).get(f"/api/v1/catalog/products/{p['虾滑'].code}").json()
    assert product_page["price"] == "15.00"


@pytest.mark.parametrize("n", [10, 50])
def test_the_list_runs_three_statements_whatever_its_length(n, django_assert_max_num_queries):
    customer = CustomerFactory(price_list=PriceList.objects.create(name="新客价"))
    visitor = VisitorFactory(customer=customer)
    products = [product_with_stock(price="10.00") for _ in range(n)]
    paid_order(customer, [(product, "2") for product in products], days_ago=1)
    UsualMark.objects.create(customer=customer, product=products[0], state=UsualMark.State.PINNED)
    client = client_for(visitor)
    with django_assert_max_num_queries(3):  # the visitor, the history with marks and settings, the products
        response = client.get("/api/v1/usuals")
    assert len(response.json()["items"]) == n
