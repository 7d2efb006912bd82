"""The order page's 消息: what we told the customer about this order (the delivery message...),
from the notification outbox, in the order detail API."""

import uuid

import pytest
from django.db import transaction
from rest_framework import serializers

from notifications.services import notify
from orders.models import Order
from orders.serializers import OrderDetailSerializer
from orders.services import order_place
from tests.factories import CustomerFactory
from tests.orders.test_api import client_for

from .conftest import fill_cart

pytestmark = pytest.mark.django_db


def message(*, event_key, recipient_id, recipient_kind="customer", channel="subscribe", title="订单已送达",
            body=""):
    with transaction.atomic():
        return notify(event_key=event_key, recipient_kind=recipient_kind, recipient_id=recipient_id, channel=channel,
                      template="delivery_done", title=title, body=body, address="oOPENID")


def placed(buyer, product, delivery):
    fill_cart(buyer, (product, "3"))
    order, _ = order_place(visitor=buyer, idempotency_key=uuid.uuid4().hex, delivery=delivery)
    return order


def test_order_detail_lists_only_the_customers_messages_about_that_order(buyer, rules, shrimp, delivery):
    order = placed(buyer, shrimp, delivery)
    other_order = placed(buyer, shrimp, delivery)
    mine = message(event_key=f"order:{order.pk}:delivered", recipient_id=buyer.customer_id,
                   body=f"订单 {order.number} 已送达：王老板签收")
    message(event_key=f"order:{other_order.pk}:delivered", recipient_id=buyer.customer_id, body="另一单")
    message(event_key=f"order:{order.pk}:delivered", recipient_kind="rep", recipient_id=buyer.customer_id,
            channel="inbox", body="业务员的提醒")
    message(event_key=f"order:{order.pk}:delivered", recipient_id=CustomerFactory().pk, body="别的客户")

    response = client_for(buyer).get(f"/api/v1/orders/{order.pk}")

    assert response.status_code == 200
    assert response.json()["messages"] == [{
        "title": "订单已送达", "body": f"订单 {order.number} 已送达：王老板签收",
        "created_at": serializers.DateTimeField().to_representation(mine.created_at),
    }]


def test_order_without_messages_has_an_empty_list(buyer, rules, shrimp, delivery):
    order = placed(buyer, shrimp, delivery)

    assert client_for(buyer).get(f"/api/v1/orders/{order.pk}").json()["messages"] == []


def test_a_new_order_serialised_without_the_selector_has_no_messages(buyer, rules, shrimp, delivery):
    """Checkout may serialise the order it has just made (not read through the selector)."""
    order = placed(buyer, shrimp, delivery)

    assert OrderDetailSerializer(Order.objects.get(pk=order.pk)).data["messages"] == []


@pytest.mark.parametrize("n", [1, 12])
def test_order_detail_query_count_does_not_grow_with_messages(buyer, rules, shrimp, delivery, n,
                                                              django_assert_max_num_queries):
    order = placed(buyer, shrimp, delivery)
    for i in range(n):
        message(event_key=f"order:{order.pk}:note{i}", recipient_id=buyer.customer_id, title=f"消息{i}")
    api = client_for(buyer)

    # The same bound as the detail endpoint without messages (tests/orders/test_api.py; 7 while
    # unpaid: whether the welcome is still owed).
    with django_assert_max_num_queries(7):
        response = api.get(f"/api/v1/orders/{order.pk}")

    assert [row["title"] for row in response.json()["messages"]] == [f"消息{i}" for i in range(n)]
