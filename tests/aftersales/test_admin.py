"""The back office in Django admin: the queue (oldest first, bounded queries), the decision page,
goodwill refunds from the order; and the customer's list in bounded queries too."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from aftersales.models import AfterSalesDecision, AfterSalesRequest
from aftersales.services import request_create
from notifications.models import Notification
from orders.models import Refund

from .conftest import make_delivered_order, photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("boss", password="pw-boss-123")
    client.force_login(user)
    return client


def _claims(count, **world_kwargs):
    worlds = []
    for _ in range(count):
        world = make_delivered_order(**world_kwargs)
        request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="quality",
                       lines=[{"line_id": world.shrimp_line.pk, "quantity": "1"}], photos=[photo()])
        worlds.append(world)
    return worlds


def test_the_queue_lists_the_oldest_first(staff_client):
    _claims(3)
    response = staff_client.get(reverse("admin:aftersales_aftersalesrequest_changelist"))
    assert response.status_code == 200
    ids = [row.pk for row in response.context["cl"].result_list]
    assert ids == sorted(ids)
    assert "短斤少两" in response.content.decode() or "质量问题" in response.content.decode()


@pytest.mark.parametrize("count", [10, 50])
def test_the_queue_runs_a_bounded_number_of_queries(staff_client, django_assert_max_num_queries, count):
    _claims(count)
    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse("admin:aftersales_aftersalesrequest_changelist") + "?status=submitted")
    assert response.status_code == 200


@pytest.mark.parametrize("count", [10, 50])
def test_the_customers_list_runs_a_bounded_number_of_queries(db, django_assert_max_num_queries, count):
    first = make_delivered_order()
    worlds = [first] + [make_delivered_order(customer=first.customer, visitor=first.visitor) for _ in range(count - 1)]
    for world in worlds:
        request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="quality",
                       lines=[{"line_id": world.shrimp_line.pk, "quantity": "1"}], photos=[photo()])
    with django_assert_max_num_queries(8):
        response = first.client.get("/api/v1/aftersales")
    assert response.status_code == 200 and response.json()["count"] == count


def test_staff_approve_part_of_a_request_on_the_decision_page(staff_client):
    (world,) = _claims(1)
    request = AfterSalesRequest.objects.get()
    url = reverse("admin:aftersales_aftersalesrequest_decide", args=[request.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and "处理售后" in page.content.decode()

    line = request.lines.get()
    response = staff_client.post(url, {"kind": "partial", f"qty_{line.pk}": "0.5", "goods": "written_off",
                                       "message": "按半袋退款"})
    assert response.status_code == 302, response.content.decode()[:500]
    request.refresh_from_db()
    assert (request.status, request.refunded_amount) == ("partially_approved", Decimal("22.75"))
    decision = AfterSalesDecision.objects.get(kind="partially_approved")
    assert decision.staff.username == "boss"
    # The change page shows the history; deciding again is refused on the page, nothing changes.
    again = staff_client.post(url, {"kind": "approve", "goods": "returned"})
    assert again.status_code == 200
    assert Refund.objects.filter(order=world.order).count() == 2  # the packing refund and this one


def test_a_refused_decision_shows_the_reason_and_changes_nothing(staff_client):
    _claims(1)
    request = AfterSalesRequest.objects.get()
    url = reverse("admin:aftersales_aftersalesrequest_decide", args=[request.pk])
    response = staff_client.post(url, {"kind": "reject", "message": ""})
    assert response.status_code == 200 and "请填写拒绝原因" in response.content.decode()
    assert AfterSalesRequest.objects.get().status == "submitted"
    assert AfterSalesDecision.objects.count() == 1  # the customer's submission only


def test_goodwill_refund_from_the_order_page(staff_client):
    world = make_delivered_order()
    order_page = staff_client.get(reverse("admin:orders_order_change", args=[world.order.pk]))
    goodwill_url = reverse("admin:aftersales_aftersalesrequest_goodwill", args=[world.order.pk])
    assert goodwill_url in order_page.content.decode()

    response = staff_client.post(goodwill_url, {"amount": "12.00", "message": "冰袋不足，补偿"})
    assert response.status_code == 302
    refund = Refund.objects.filter(order=world.order).latest("created_at")
    assert (refund.amount, refund.reason) == (Decimal("12.00"), "补偿：冰袋不足，补偿")
    assert Notification.objects.filter(template="aftersales_result", recipient_id=str(world.customer.pk)).exists()
    page = staff_client.get(reverse("admin:orders_order_change", args=[world.order.pk]))
    assert refund.out_refund_no in page.content.decode()  # the order's admin page shows each refund

    too_much = staff_client.post(goodwill_url, {"amount": "999.00", "message": "太多"})
    assert too_much.status_code == 200 and "可退金额" in too_much.content.decode()
    assert Refund.objects.filter(order=world.order).count() == 2
