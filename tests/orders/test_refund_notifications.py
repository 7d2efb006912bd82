"""Refund notifications (REFUND.SUCCESS / ABNORMAL / CLOSED) through the dev WeChat Pay.

They share the payment notify URL and its one verify path (signature, timestamp window,
AES-GCM); each updates its refund at once, and anything forged, tampered, stale, replayed or
not matching our refund changes nothing.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import Order, PaymentNotification, Refund
from orders.services import payment_prepare, payment_sync, refund_create, refund_submit
from orders.tasks import refunds_retry_unfinished
from wechat import tasks as wechat_tasks
from wechat.backends import get_backend
from wechat.backends.dev_pay import dev_refund_resource
from wechat.models import DevRefund
from wechat.pay import crypto, keys

from .conftest import fill_cart

pytestmark = pytest.mark.django_db
NOTIFY_URL = "http://testserver/payments/wechatpay/notify"


@pytest.fixture
def refund(buyer, rules, shrimp, delivery, django_capture_on_commit_callbacks, monkeypatch):
    """A paid order with a ¥45.50 refund that the dev WeChat Pay accepted (processing)."""
    from orders.services import order_place

    monkeypatch.setattr(wechat_tasks.requests, "post", lambda *a, **k: (_ for _ in ()).throw(
        wechat_tasks.requests.ConnectionError("not delivered in this test")))
    fill_cart(buyer, (shrimp, "4"))  # 182.00 + 10.00 delivery
    order, _ = order_place(visitor=buyer, idempotency_key="refund-notify-0001", delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    assert payment_sync(order_id=order.pk) == "paid"
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            created = refund_create(order=locked, amount=Decimal("45.50"), reason="少发一袋", actor="admin")
    created.refresh_from_db()
    assert created.status == Refund.Status.PROCESSING
    PaymentNotification.objects.all().delete()
    return created


def _row(refund):
    return Refund.objects.filter(pk=refund.pk).values().get()


def _resource(refund, status="SUCCESS", **changes):
    DevRefund.objects.filter(out_refund_no=refund.out_refund_no).update(status=status)
    resource = dev_refund_resource(refund.out_refund_no)
    for key, value in changes.items():
        if key in ("refund", "total"):
            resource["amount"][key] = value
        else:
            resource[key] = value
    return resource


def _signed(resource, *, event=None, key=None, timestamp=None):
    return crypto.build_notification(
        event_type=event or f"REFUND.{resource['refund_status']}", resource=resource,
        platform_key=key or keys.dev_platform_private_key(), serial=keys.DEV_PLATFORM_KEY_ID,
        apiv3_key=settings.WECHATPAY_APIV3_KEY, timestamp=timestamp, original_type="refund",
    )


def _post(client, headers, body):
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()
            if name != "Content-Type"}
    return client.post("/payments/wechatpay/notify", data=body, content_type="application/json", **meta)


def _refused(client, refund, headers, body, status):
    before = _row(refund)
    response = _post(client, headers, body)
    assert response.status_code == status
    assert response.json() == {"code": "FAIL", "message": "失败"}
    assert _row(refund) == before
    assert PaymentNotification.objects.count() == 0


def test_the_dev_backend_sends_refund_success_to_the_payment_notify_url_and_it_finishes_the_refund(
        client, buyer, rules, shrimp, delivery, django_capture_on_commit_callbacks, monkeypatch):
    """The dev path is the real one: its signed REFUND.SUCCESS goes through the notify view."""
    from orders.services import order_place

    delivered = []

    def deliver(url, data, headers, timeout):
        delivered.append(url)
        return _post(client, headers, data)

    monkeypatch.setattr(wechat_tasks.requests, "post", deliver)
    fill_cart(buyer, (shrimp, "4"))
    order, _ = order_place(visitor=buyer, idempotency_key="refund-notify-dev-01", delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    with django_capture_on_commit_callbacks(execute=True):
        get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    delivered.clear()

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            refund = refund_create(order=locked, amount=Decimal("45.50"), reason="少发一袋", actor="admin")

    refund.refresh_from_db()
    dev_refund = DevRefund.objects.get(out_refund_no=refund.out_refund_no)
    assert dev_refund.notify_url == NOTIFY_URL  # no notify_url of our own: the payment's, as configured
    assert delivered == [NOTIFY_URL, NOTIFY_URL]  # sent twice, as WeChat Pay may
    assert (refund.status, refund.refund_id) == (Refund.Status.SUCCEEDED, dev_refund.refund_id)
    assert refund.succeeded_at is not None
    outcomes = sorted(PaymentNotification.objects.filter(event_type="notification:REFUND.SUCCESS")
                      .values_list("outcome", flat=True))
    assert outcomes == ["already_succeeded", "refund_succeeded"]


@pytest.mark.parametrize("status, expected, note", [
    ("SUCCESS", Refund.Status.SUCCEEDED, ""),
    ("ABNORMAL", Refund.Status.FAILED, "退款异常：买家收款账户异常（如银行卡作废），请在微信支付商户平台处理"),
    ("CLOSED", Refund.Status.FAILED, "退款已被微信支付关闭"),
])
def test_each_refund_status_updates_the_refund_at_once(client, refund, status, expected, note):
    resource = _resource(refund, status)

    response = _post(client, *_signed(resource))

    assert response.status_code == 204
    refund.refresh_from_db()
    assert (refund.status, refund.last_error, refund.refund_id) == (expected, note, resource["refund_id"])
    assert (refund.succeeded_at is not None) == (status == "SUCCESS")
    assert PaymentNotification.objects.get().outcome == f"refund_{expected}"


def test_a_finished_refund_is_left_alone_by_the_poll_and_by_later_notifications(client, refund):
    assert _post(client, *_signed(_resource(refund, "CLOSED"))).status_code == 204
    finished = _row(refund)

    refunds_retry_unfinished()
    assert refund_submit(refund_id=refund.pk) == Refund.Status.FAILED
    assert _post(client, *_signed(_resource(refund, "SUCCESS"))).status_code == 204

    assert _row(refund) == finished


def test_the_poll_still_finishes_a_refund_whose_notification_never_came(refund):
    assert refunds_retry_unfinished() == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED


def test_a_replayed_notification_changes_nothing(client, refund):
    headers, body = _signed(_resource(refund, "ABNORMAL"))
    assert _post(client, headers, body).status_code == 204
    after_first = _row(refund)
    Refund.objects.filter(pk=refund.pk).update(status=Refund.Status.PROCESSING, last_error="")  # say staff reopened it
    reopened = _row(refund)

    assert _post(client, headers, body).status_code == 204  # WeChat Pay retries: acknowledged, not applied

    assert _row(refund) == reopened != after_first
    assert list(PaymentNotification.objects.values_list("outcome", flat=True)) == ["refund_failed"]


def test_a_replay_outside_the_timestamp_window_is_refused(client, refund):
    headers, body = _signed(_resource(refund))
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        _refused(client, refund, headers, body, 401)


def test_a_stale_timestamp_is_refused(client, refund):
    stale = int(timezone.now().timestamp()) - 10 * 60
    _refused(client, refund, *_signed(_resource(refund), timestamp=stale), 401)


def test_a_forged_signature_is_refused(client, refund):
    _refused(client, refund, *_signed(_resource(refund), key=crypto.generate_private_key()), 401)


def test_a_tampered_body_is_refused(client, refund):
    headers, body = _signed(_resource(refund, "CLOSED"))
    envelope = json.loads(body)
    envelope["event_type"] = "REFUND.SUCCESS"
    _refused(client, refund, headers, json.dumps(envelope, ensure_ascii=False).encode(), 401)


@pytest.mark.parametrize("changes", [
    {"refund": 4549}, {"refund": 19200}, {"total": 4550}, {"mchid": "1999999999"},
    {"out_trade_no": "SF2601019999"}, {"out_refund_no": "SF2601019999R1"}, {"refund_status": "CLOSED"},
    {"amount": "4550"}, {"refund_id": ""},
], ids=["short-refund", "whole-order", "wrong-total", "other-merchant", "other-order", "unknown-refund",
        "status-against-event", "amount-not-an-object", "no-refund-id"])
def test_a_notification_that_does_not_match_our_refund_is_refused(client, refund, changes):
    resource = _resource(refund)
    resource.update({k: v for k, v in changes.items() if k not in ("refund", "total")})
    if "refund" in changes or "total" in changes:
        resource["amount"].update({k: changes[k] for k in ("refund", "total") if k in changes})
    _refused(client, refund, *_signed(resource, event="REFUND.SUCCESS"), 400)


def test_a_refund_id_other_than_the_one_wechatpay_gave_us_is_refused(client, refund):
    assert refund.refund_id
    _refused(client, refund, *_signed(_resource(refund, refund_id="50" + "9" * 28)), 400)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_copies_of_a_notification_racing_the_poll_finish_the_refund_once(refund, settings):
    from django.db import connection
    from django.test import Client

    from tests.concurrency import run_in_threads

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    headers, body = _signed(_resource(refund, "SUCCESS"))

    def deliver_or_poll(index):
        if index < 2:
            return refund_submit(refund_id=refund.pk)  # the 5-minute poll, at the same moment
        return _post(Client(), headers, body).status_code

    results = run_in_threads(8, deliver_or_poll)

    assert sorted(map(str, results)) == ["204"] * 6 + [Refund.Status.SUCCEEDED] * 2
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    outcomes = list(PaymentNotification.objects.values_list("outcome", flat=True))
    assert len(outcomes) == 1 and outcomes[0] in ("refund_succeeded", "already_succeeded")
