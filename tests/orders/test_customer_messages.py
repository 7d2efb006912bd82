"""Each customer message is written by its event (orders/messages.py) and sent only against the
customer's acceptance of its template: order paid, catch-weight difference refunded at packing,
refund done (by the REFUND.SUCCESS notification or by the poll), once each."""

from decimal import Decimal

import pytest
from django.db import transaction

from notifications.models import Notification
from orders.models import Order, Refund
from orders.services import order_place, payment_prepare, payment_sync, refund_create
from orders.tasks import refunds_retry_unfinished
from tests.factories import subscribe_consent
from tests.logistics.test_packing import clerk, pack, packing_order, squid  # noqa: F401
from wechat import tasks as wechat_tasks
from wechat.backends import get_backend
from wechat.models import DevMessage

from .conftest import fill_cart
from .test_refund_notifications import NOTIFY_URL, _post, _resource, _signed

pytestmark = pytest.mark.django_db
S = Notification.Status


def _paid(buyer, shrimp, delivery, capture, key="messages-0001"):
    fill_cart(buyer, (shrimp, "4"))  # 182.00 + 10.00 delivery
    order, _ = order_place(visitor=buyer, idempotency_key=key, delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    with capture(execute=True):
        assert payment_sync(order_id=order.pk) == "paid"
    return Order.objects.select_related("payment", "visitor").get(pk=order.pk)


def test_paying_writes_the_order_paid_message_and_sends_it_with_consent(
        buyer, rules, shrimp, delivery, django_capture_on_commit_callbacks):
    subscribe_consent(buyer.openid, "order_paid")

    order = _paid(buyer, shrimp, delivery, django_capture_on_commit_callbacks)

    message = Notification.objects.get(event_key=f"order:{order.pk}:paid")
    assert (message.template, message.recipient_kind, message.recipient_id, message.address, message.link) == (
        "order_paid", "customer", str(order.customer_id), buyer.openid, f"/shop/orders/{order.pk}/")
    assert message.status == S.SENT
    sent = DevMessage.objects.get(to=buyer.openid)
    assert sent.template_id == "dev-template-order_paid"
    assert sent.data["character_string1"] == {"value": order.number}
    assert sent.data["amount2"] == {"value": "¥192.00"}
    # A duplicate settlement (the second copy of the notification) writes nothing more.
    assert payment_sync(order_id=order.pk) == "already_paid"
    assert Notification.objects.filter(template="order_paid").count() == 1


def test_paying_without_consent_records_the_message_unsent(buyer, rules, shrimp, delivery,
                                                           django_capture_on_commit_callbacks):
    order = _paid(buyer, shrimp, delivery, django_capture_on_commit_callbacks)

    assert Notification.objects.get(event_key=f"order:{order.pk}:paid").status == S.NO_CONSENT
    assert DevMessage.objects.count() == 0


def test_packing_a_lighter_catch_weight_writes_the_weight_refund_message(
        buyer, rules, delivery, clerk, squid, django_capture_on_commit_callbacks):  # noqa: F811
    subscribe_consent(buyer.openid, "weight_refund")
    order = packing_order(buyer, delivery, clerk, (squid, "10"))

    result = pack(order, clerk, {squid: {"actual_weight": "9.62"}}, capture=django_capture_on_commit_callbacks)

    message = Notification.objects.get(template="weight_refund")
    assert message.event_key == f"order:{order.pk}:weight_refund:{result.refund.pk}"
    assert message.body == f"订单 {order.number} 按实际称重 ¥187.97，差价 ¥7.03 原路退回"
    assert message.status == S.SENT
    assert DevMessage.objects.get(template_id="dev-template-weight_refund").data["amount3"] == {"value": "¥7.03"}


@pytest.fixture
def processing_refund(buyer, rules, shrimp, delivery, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(wechat_tasks.requests, "post", lambda *a, **k: (_ for _ in ()).throw(
        wechat_tasks.requests.ConnectionError("not delivered in this test")))
    order = _paid(buyer, shrimp, delivery, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            refund = refund_create(order=locked, amount=Decimal("45.50"), reason="少发一袋", actor="admin")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PROCESSING
    assert not Notification.objects.filter(template="refund_done").exists()  # not before the money is back
    return refund


def test_a_refund_notification_writes_refund_done_once(client, buyer, processing_refund,
                                                      django_capture_on_commit_callbacks):
    subscribe_consent(buyer.openid, "refund_done")
    headers, body = _signed(_resource(processing_refund, "SUCCESS"))

    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, headers, body).status_code == 204
    refunds_retry_unfinished()  # the poll finds it finished: nothing more

    message = Notification.objects.get(template="refund_done")
    assert message.event_key == f"order:{processing_refund.order_id}:refund:{processing_refund.pk}"
    assert message.body == f"订单 {processing_refund.order.number} 退款 ¥45.50 已原路退回微信支付：少发一袋"
    assert message.status == S.SENT
    assert DevMessage.objects.filter(template_id="dev-template-refund_done").count() == 1


def test_the_poll_finishing_a_refund_writes_refund_done(processing_refund, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert refunds_retry_unfinished() == 1
        refunds_retry_unfinished()

    message = Notification.objects.get(template="refund_done")
    assert message.status == S.NO_CONSENT  # never accepted: recorded, not sent
    assert DevMessage.objects.count() == 0


def test_a_failed_refund_tells_the_customer_nothing(client, processing_refund):
    assert _post(client, *_signed(_resource(processing_refund, "CLOSED"))).status_code == 204
    assert not Notification.objects.filter(template="refund_done").exists()
