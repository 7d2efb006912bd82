import csv
import io
import uuid

import pytest

from orders.models import Order, Payment
from orders.services import order_place
from orders.services.checkout import DeliveryInput
from tests.factories import VisitorFactory, CustomerFactory, product_with_stock

from .conftest import fill_cart

pytestmark = pytest.mark.django_db

DELIVERY = DeliveryInput.parse({"restaurant_name": "=HYPERLINK(\"x\")", "contact_name": "王", "address": "深圳市福田区福华路 88 号",
                                "latitude": "22.54", "longitude": "114.06"})


def _orders(n, rules):
    product = product_with_stock(price="150.00", on_hand="1000")
    placed = []
    for _ in range(n):
        visitor = VisitorFactory(customer=CustomerFactory())
        fill_cart(visitor, (product, "1"))
        placed.append(order_place(visitor=visitor, idempotency_key=uuid.uuid4().hex, delivery=DELIVERY)[0])
    return placed


def test_admin_cannot_add_an_order(admin_client, rules):
    assert admin_client.get("/admin/orders/order/add/").status_code == 403
    response = admin_client.post("/admin/orders/order/add/", {"number": "X", "status": "paid", "total": "1"})
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_admin_cannot_mark_an_order_paid(admin_client, rules):
    order = _orders(1, rules)[0]
    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", {"status": "paid"})
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert Payment.objects.get(order=order).status == Payment.Status.CREATED
    assert admin_client.get(f"/admin/orders/payment/{order.payment.pk}/change/").status_code == 200
    admin_client.post(f"/admin/orders/payment/{order.payment.pk}/change/", {"status": "succeeded"})
    assert Payment.objects.get(order=order).status == Payment.Status.CREATED
    assert response.status_code in (200, 302, 403)


def test_admin_cannot_delete_orders(admin_client, rules):
    order = _orders(1, rules)[0]
    admin_client.post(f"/admin/orders/order/{order.pk}/delete/", {"post": "yes"})
    assert Order.objects.filter(pk=order.pk).exists()


def test_order_changelist_search_and_detail(admin_client, rules):
    order = _orders(2, rules)[0]
    page = admin_client.get("/admin/orders/order/", {"q": order.number})
    assert page.status_code == 200
    assert order.number in page.content.decode()
    assert admin_client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 200


@pytest.mark.parametrize("n", [5, 40])
def test_order_changelist_query_count_is_constant(admin_client, rules, n, django_assert_max_num_queries):
    _orders(n, rules)
    with django_assert_max_num_queries(12):
        assert admin_client.get("/admin/orders/order/").status_code == 200


def test_csv_export_has_bom_header_and_defused_formulas(admin_client, rules):
    orders = _orders(3, rules)
    response = admin_client.post("/admin/orders/order/", {
        "action": "export_csv", "_selected_action": [str(o.pk) for o in orders]})
    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    assert rows[0][:3] == ["订单号", "状态", "下单时间"]
    assert sorted(r[0] for r in rows[1:]) == sorted(o.number for o in orders)
    assert all(r[5].startswith("'=") for r in rows[1:])
    assert rows[1][-1] == "160.00"


def test_csv_export_neutralises_every_formula_start_in_text_columns_and_leaves_amounts_bare(admin_client, rules):
    orders = _orders(1, rules)
    Order.objects.filter(pk=orders[0].pk).update(
        contact_name="@王", phone="+8613800138000", district="-福田", address="\t=1+1", restaurant_name="\r=cmd")
    response = admin_client.post("/admin/orders/order/", {
        "action": "export_csv", "_selected_action": [str(orders[0].pk)]})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff"),
                                       newline="")))

    assert rows[1][5:10] == ["'\r=cmd", "'@王", "'+8613800138000", "'-福田", "'\t=1+1"]
    assert rows[1][11:] == ["150.00", "10.00", "0.00", "160.00"]
    assert not [cell for cell in rows[1] if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
