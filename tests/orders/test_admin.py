import csv
import io
import uuid

import pytest
from django.db import transaction

from orders.models import Order, OrderEvent, Payment
from orders.services import order_place
from orders.services.checkout import DeliveryInput
from orders.services.transitions import order_transition
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


def _paid(order):
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        order_transition(order=locked, to_status=Order.Status.PAID, actor="wechatpay", note="微信支付成功")
    return locked


def test_read_only_order_page_has_no_save_button_but_the_cancel_action_stays(admin_client, rules):
    orders = _orders(2, rules)
    page = admin_client.get(f"/admin/orders/order/{orders[0].pk}/change/").content.decode()
    assert orders[0].number in page
    for button in ('name="_save"', 'name="_continue"', 'name="_addanother"', 'name="_saveasnew"'):
        assert button not in page
    # Staff still cancel an unpaid order from the list, which is why the page keeps the change permission.
    response = admin_client.post("/admin/orders/order/", {"action": "cancel_unpaid", "_selected_action": [str(orders[1].pk)]})
    assert response.status_code == 302
    assert Order.objects.get(pk=orders[1].pk).status == Order.Status.CANCELLED
    assert Order.objects.get(pk=orders[0].pk).status == Order.Status.PENDING_PAYMENT


def test_order_timeline_in_admin_shows_labels_not_codes(admin_client, rules):
    order = _paid(_orders(1, rules)[0])
    html = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    timeline = html[html.index('id="events-group"'):]
    for label in ("待付款 → 已付款", "客户", "微信支付", "提交订单"):
        assert label in timeline
    for code in ("pending_payment", "→ paid", ">customer<", ">wechatpay<"):
        assert code not in timeline
    assert str(OrderEvent.objects.filter(order=order).last()) == "待付款 → 已付款"


def test_order_event_labels_fall_back_to_what_was_written():
    event = OrderEvent(from_status="paid", to_status="paid", actor="送货司机 张师傅")
    assert (event.transition_label, event.actor_label) == ("已付款（状态不变）", "送货司机 张师傅")
    assert OrderEvent(from_status="", to_status="pending_payment", actor="system").actor_label == "系统"
