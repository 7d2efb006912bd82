"""An approved request becomes 已退款 when its refund reaches the customer — by WeChat Pay's
REFUND.SUCCESS notification or by the refund poll — and the customer reads it, with the 退款成功
message. A refund that fails leaves it approved; a goodwill refund has no request to mark."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from aftersales.decisions import APPROVE, PARTIAL, Decision, goodwill_refund, request_decide
from aftersales.models import AfterSalesRequest
from aftersales.services import request_create
from notifications.models import Notification
from orders.models import Refund
from orders.services import refund_submit
from tests.orders.test_refund_notifications import _post, _resource, _signed

pytestmark = pytest.mark.django_db
Status = AfterSalesRequest.Status


@pytest.fixture
def staff(db):
    return User.objects.create_user("kefu-refund", is_staff=True)


def _approved(world, staff, kind=PARTIAL):
    request = request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="damaged",
                             lines=[{"line_id": world.shrimp_line.pk, "quantity": "2"}])
    decision = request_decide(request_id=request.pk, user=staff,
                              decision=Decision(kind=kind, amount="30.00", goods="written_off", message="按损耗退"))
    request.refresh_from_db()
    assert request.status == (Status.PARTIALLY_APPROVED if kind == PARTIAL else Status.APPROVED)
    return request, decision.refund


def _sent(refund):
    """The refund submitted: the dev WeChat Pay accepts it (PROCESSING), as WeChat Pay does."""
    assert refund_submit(refund_id=refund.pk) == Refund.Status.PROCESSING
    refund.refresh_from_db()
    return refund


def test_the_poll_finding_the_refund_done_marks_the_request_refunded(world, staff):
    request, refund = _approved(world, staff)
    _sent(refund)
    request.refresh_from_db()
    assert request.status == Status.PARTIALLY_APPROVED  # accepted is not done

    assert refund_submit(refund_id=refund.pk) == Refund.Status.SUCCEEDED  # the poll asks: done

    request.refresh_from_db()
    refund.refresh_from_db()
    assert (request.status, request.refunded_at) == (Status.REFUNDED, refund.succeeded_at)
    assert request.refunded_amount == Decimal("30.00")
    detail = world.client.get(f"/api/v1/aftersales/{request.pk}").json()
    assert (detail["status"], detail["status_label"]) == ("refunded", "已退款")
    assert detail["replies"][-1]["kind"] == "partially_approved"  # what was decided stays readable
    message = Notification.objects.get(template="refund_done")
    assert message.event_key == f"order:{world.order.pk}:refund:{refund.pk}"
    # Asking again changes nothing and writes nothing more.
    assert refund_submit(refund_id=refund.pk) == Refund.Status.SUCCEEDED
    assert Notification.objects.filter(template="refund_done").count() == 1


def test_a_refund_notification_marks_the_request_refunded(client, world, staff):
    request, refund = _approved(world, staff, kind=APPROVE)
    _sent(refund)

    assert _post(client, *_signed(_resource(refund, "SUCCESS"))).status_code == 204

    request.refresh_from_db()
    assert request.status == Status.REFUNDED and request.refunded_at is not None
    assert Notification.objects.filter(template="refund_done").count() == 1


def test_a_failed_refund_leaves_the_request_approved(client, world, staff):
    request, refund = _approved(world, staff)
    _sent(refund)

    assert _post(client, *_signed(_resource(refund, "CLOSED"))).status_code == 204

    request.refresh_from_db()
    assert (request.status, request.refunded_at) == (Status.PARTIALLY_APPROVED, None)
    assert not Notification.objects.filter(template="refund_done").exists()


def test_a_goodwill_refund_marks_no_request(world, staff):
    request, refund = _approved(world, staff)
    goodwill = goodwill_refund(order_id=world.order.pk, user=staff, amount="5.00", message="送货晚了")
    _sent(goodwill.refund)

    assert refund_submit(refund_id=goodwill.refund.pk) == Refund.Status.SUCCEEDED

    request.refresh_from_db()
    assert request.status == Status.PARTIALLY_APPROVED  # its own refund has not come back yet
    _sent(refund)
    refund_submit(refund_id=refund.pk)
    request.refresh_from_db()
    assert request.status == Status.REFUNDED


@pytest.mark.parametrize("count", [3, 12])
def test_my_aftersales_list_runs_a_bounded_number_of_queries(world, staff, count, django_assert_max_num_queries):
    """我的售后 (/shop/aftersales/ reads /api/v1/aftersales): each request with its lines, photos and
    every reply, decided and refunded ones included, in the same queries however many there are."""
    from tests.aftersales.conftest import make_delivered_order

    for index in range(count):
        other = world if index == 0 else make_delivered_order(customer=world.customer, visitor=world.visitor)
        request, refund = _approved(other, staff)
        _sent(refund)
        refund_submit(refund_id=refund.pk)

    with django_assert_max_num_queries(8):
        response = world.client.get("/api/v1/aftersales")

    results = response.json()["results"]
    assert len(results) == count
    assert {item["status_label"] for item in results} == {"已退款"}
    assert all(len(item["replies"]) == 2 for item in results)  # the submission and the decision


def test_the_list_page_is_a_shell(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/shop/aftersales/")
    assert response.status_code == 200
    assert response.templates[0].name == "shop/aftersales_list.html"
