"""The order API as a mini program uses it: phone, quote, order, pay, history, reorder."""

import uuid
from decimal import Decimal

import pytest

from catalog.models import CartLine
from customers.models import Customer, Visitor
from customers.tokens import visitor_token_make
from orders.models import Order
from tests.factories import VisitorFactory, product_with_stock
from wechat.backends import get_backend
from wechat.models import DevPayTransaction

from .conftest import fill_cart

pytestmark = pytest.mark.django_db

DELIVERY = {"restaurant_name": "湘味小馆(福田店)", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
            "district": "福田", "latitude": "22.541234", "longitude": "114.061234"}


def client_for(visitor):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def phone_code(visitor, phone="13912345678"):
    return get_backend().issue_phone_code(openid=visitor.openid, phone=phone)


def test_phone_authorisation_creates_the_customer(visitor, visitor_client):
    response = visitor_client.post("/api/v1/auth/phone", {"code": phone_code(visitor), "nickname": "王老板"},
                                   format="json")
    assert response.status_code == 200
    visitor.refresh_from_db()
    customer = Customer.objects.get(pk=visitor.customer_id)
    assert (customer.phone, customer.contact_name, visitor.nickname) == ("13912345678", "王老板", "王老板")
    assert response.json()["customer"]["phone"] == "13912345678"


def test_second_wechat_user_with_the_same_phone_joins_that_restaurant(visitor, visitor_client):
    visitor_client.post("/api/v1/auth/phone", {"code": phone_code(visitor)}, format="json")
    other = VisitorFactory()
    client_for(other).post("/api/v1/auth/phone", {"code": phone_code(other)}, format="json")
    other.refresh_from_db()
    visitor.refresh_from_db()
    assert other.customer_id == visitor.customer_id
    assert Customer.objects.count() == 1


def test_phone_code_of_another_user_or_reused_is_refused(visitor, visitor_client):
    other = VisitorFactory()
    stolen = phone_code(other)
    response = visitor_client.post("/api/v1/auth/phone", {"code": stolen}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_phone_code"
    code = phone_code(visitor)
    assert visitor_client.post("/api/v1/auth/phone", {"code": code}, format="json").status_code == 200
    assert visitor_client.post("/api/v1/auth/phone", {"code": code}, format="json").status_code == 400
    assert Customer.objects.count() == 1


def test_checkout_preview_is_computed_on_the_server(buyer, rules, shrimp):
    fill_cart(buyer, (shrimp, "2"))
    body = client_for(buyer).get("/api/v1/checkout").json()
    assert (body["subtotal"], body["delivery_fee"], body["total"], body["min_order_amount"]) == (
        "91.00", "10.00", "101.00", "100.00")
    assert body["cutoff_time"] == "23:00"
    assert body["customer"]["phone"] == "13800138000"


def test_order_endpoint_creates_the_order_and_returns_payment_parameters(buyer, rules, shrimp):
    fill_cart(buyer, (shrimp, "3"))
    response = client_for(buyer).post(
        "/api/v1/orders",
        dict(DELIVERY, idempotency_key=uuid.uuid4().hex, total="0.01", subtotal="0.01", delivery_fee="0",
             price="0.01", unit_price="0.01"),
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["order"]["total"] == "146.50"  # 3 × 45.50 + 10; the client's numbers are ignored
    assert body["payment"]["package"].startswith("prepay_id=")
    assert DevPayTransaction.objects.get(out_trade_no=body["order"]["number"]).amount_fen == 14650


def test_order_without_phone_is_refused(visitor, visitor_client, rules, shrimp):
    fill_cart(visitor, (shrimp, "3"))
    response = visitor_client.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json")
    assert response.status_code == 403
    assert response.json()["error"] == {"code": "phone_required", "message": "请先授权手机号后再下单", "details": {}}
    assert Order.objects.count() == 0
    assert CartLine.objects.filter(cart__visitor=visitor).count() == 1


def test_pay_sheet_confirm_then_sync_shows_the_order_paid(buyer, rules, shrimp, client):
    fill_cart(buyer, (shrimp, "3"))
    api = client_for(buyer)
    placed = api.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json").json()
    sheet = client.get(f"/wechat-dev/pay/{placed['payment']['package'].removeprefix('prepay_id=')}").json()
    assert sheet["amount"] == "146.50"
    assert client.post("/wechat-dev/pay/confirm", placed["payment"], content_type="application/json").status_code == 200

    synced = api.post(f"/api/v1/orders/{placed['order']['id']}/sync").json()

    assert synced["status"] == "paid"
    assert [event["to_status"] for event in synced["events"]] == ["pending_payment", "paid"]


def test_customers_see_only_their_own_orders(buyer, rules, shrimp):
    fill_cart(buyer, (shrimp, "3"))
    placed = client_for(buyer).post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex),
                                    format="json").json()
    stranger = VisitorFactory(customer=Customer.objects.create(name="别家", phone="13700000000"))
    api = client_for(stranger)
    assert api.get(f"/api/v1/orders/{placed['order']['id']}").status_code == 404
    assert api.get("/api/v1/orders").json()["results"] == []
    assert api.post(f"/api/v1/orders/{placed['order']['id']}/reorder").status_code == 404
    assert api.post(f"/api/v1/orders/{placed['order']['id']}/cancel").status_code == 404


def test_customer_can_cancel_an_unpaid_order_and_the_stock_comes_back(buyer, rules, shrimp):
    fill_cart(buyer, (shrimp, "3"))
    api = client_for(buyer)
    placed = api.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json").json()
    cancelled = api.post(f"/api/v1/orders/{placed['order']['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    shrimp.stock.refresh_from_db()
    assert shrimp.stock.reserved == Decimal("0.00")
    assert DevPayTransaction.objects.get(out_trade_no=placed["order"]["number"]).state == "CLOSED"


def test_reorder_refills_the_cart_at_todays_prices_and_says_what_was_skipped(buyer, rules, shrimp, squid):
    fill_cart(buyer, (shrimp, "3"), (squid, "6"))
    api = client_for(buyer)
    placed = api.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json").json()
    shrimp.price = Decimal("50.00")
    shrimp.save()
    squid.is_active = False
    squid.save()

    response = api.post(f"/api/v1/orders/{placed['order']['id']}/reorder").json()

    assert response["notes"] == ["冻鱿鱼须 已下架，未加入"]
    assert [(line["product"]["name"], line["quantity"], line["unit_price"]) for line in response["cart"]["lines"]] == [
        ("去皮虾仁", "3.00", "50.00")]


def test_reorder_cuts_a_line_down_to_the_stock_left(buyer, rules, squid):
    fill_cart(buyer, (squid, "12"))
    api = client_for(buyer)
    placed = api.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json").json()
    # 50 on hand, 12 reserved by the order above; someone else holds 35 more: 3 left.
    from logistics.models import Stock

    Stock.objects.filter(product=squid).update(reserved=Decimal("47"))
    response = api.post(f"/api/v1/orders/{placed['order']['id']}/reorder").json()
    assert response["notes"] == ["冻鱿鱼须 库存不足，已加入 3斤"]
    assert response["cart"]["lines"][0]["quantity"] == "3.00"


@pytest.mark.parametrize("n", [3, 30])
def test_order_list_query_count_is_constant(buyer, rules, n, django_assert_max_num_queries):
    from orders.services import order_place
    from orders.services.checkout import DeliveryInput

    products = [product_with_stock(price="120.00") for _ in range(3)]
    delivery = DeliveryInput.parse(DELIVERY)
    for i in range(n):
        fill_cart(buyer, *[(p, "1") for p in products])
        order_place(visitor=buyer, idempotency_key=f"history-{i:04d}", delivery=delivery)
    api = client_for(buyer)
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/orders")
    assert len(response.json()["results"]) == min(n, 20)


def test_order_detail_query_count(buyer, rules, shrimp, django_assert_max_num_queries):
    fill_cart(buyer, (shrimp, "3"))
    api = client_for(buyer)
    placed = api.post("/api/v1/orders", dict(DELIVERY, idempotency_key=uuid.uuid4().hex), format="json").json()
    # 7 while unpaid: whether the restaurant is still owed its welcome (asked for at 去支付).
    with django_assert_max_num_queries(7):
        assert api.get(f"/api/v1/orders/{placed['order']['id']}").status_code == 200


def test_visitor_model_is_untouched_by_a_bad_phone_request(visitor, visitor_client):
    assert visitor_client.post("/api/v1/auth/phone", {"code": ""}, format="json").status_code == 400
    assert Visitor.objects.get(pk=visitor.pk).customer_id is None
