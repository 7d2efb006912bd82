"""WeChat Pay around an order: notification, query, expiry, late payment, refunds."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from logistics.models import Stock
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderEvent, Payment, PaymentNotification, Refund
from orders.services import order_expire, order_place, payment_prepare, payment_sync
from orders.tasks import orders_expire_unpaid
from wechat.backends import get_backend
from wechat.backends.dev_pay import dev_transaction_resource
from wechat.models import DevPayTransaction, DevRefund
from wechat.pay import crypto, keys

from .conftest import fill_cart

pytestmark = pytest.mark.django_db
NOTIFY_URL = "http://testserver/payments/wechatpay/notify"


@pytest.fixture
def order(buyer, rules, shrimp, delivery):
    fill_cart(buyer, (shrimp, "4"))  # 4 × 45.50 = 182.00 + 10.00 delivery
    placed, _ = order_place(visitor=buyer, idempotency_key="pay-test-0001", delivery=delivery)
    return placed


@pytest.fixture
def prepaid(order):
    params = payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    return order, params


def _paid_at_wechat(prepaid_order) -> dict:
    order, params = prepaid_order
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    return dev_transaction_resource(order.payment.out_trade_no)


def _notify(client, resource: dict, *, key=None, serial=None, timestamp=None, body_hook=None, event="TRANSACTION.SUCCESS"):
    headers, body = crypto.build_notification(
        event_type=event, resource=resource, platform_key=key or keys.dev_platform_private_key(),
        serial=serial or keys.DEV_PLATFORM_KEY_ID, apiv3_key=settings.WECHATPAY_APIV3_KEY, timestamp=timestamp,
    )
    if body_hook:
        body = body_hook(body)
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items() if name != "Content-Type"}
    return client.post("/payments/wechatpay/notify", data=body, content_type="application/json", **extra)


def _state(order):
    order.refresh_from_db()
    payment = Payment.objects.get(order=order)
    return order.status, payment.status, Stock.objects.get(product__order_lines__order=order).reserved


def test_prepay_gives_signed_request_payment_parameters(prepaid):
    order, params = prepaid
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert crypto.rsa_verify(keys.merchant_private_key().public_key(), message, params["paySign"])
    tx = DevPayTransaction.objects.get(out_trade_no=order.number)
    assert (tx.amount_fen, tx.openid, tx.notify_url) == (19200, order.visitor.openid, NOTIFY_URL)
    assert tx.time_expire == order.expires_at


def test_notification_marks_the_order_paid_once(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)

    first = _notify(client, resource)
    second = _notify(client, resource)  # WeChat Pay retries and duplicates

    assert (first.status_code, second.status_code) == (204, 204)
    assert _state(order)[:2] == (Order.Status.PAID, Payment.Status.SUCCEEDED)
    assert Payment.objects.get(order=order).transaction_id == resource["transaction_id"]
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 1
    assert PaymentNotification.objects.filter(out_trade_no=order.number).count() == 2
    order.customer.refresh_from_db()
    assert order.customer.last_order_at == order.paid_at


def test_the_same_notification_twice_is_one_payment(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    headers, body = crypto.build_notification(
        event_type="TRANSACTION.SUCCESS", resource=resource, platform_key=keys.dev_platform_private_key(),
        serial=keys.DEV_PLATFORM_KEY_ID, apiv3_key=settings.WECHATPAY_APIV3_KEY)
    extra = {f"HTTP_{n.upper().replace('-', '_')}": v for n, v in headers.items() if n != "Content-Type"}
    for _ in range(3):
        assert client.post("/payments/wechatpay/notify", data=body, content_type="application/json",
                           **extra).status_code == 204
    assert PaymentNotification.objects.filter(out_trade_no=order.number).count() == 1
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 1


def _assert_nothing_changed(order, response, status=None):
    assert response.status_code == (status or response.status_code)
    assert response.status_code >= 400
    assert response.json() == {"code": "FAIL", "message": "失败"}
    assert _state(order) == (Order.Status.PENDING_PAYMENT, Payment.Status.CREATED, Decimal("4.00"))
    assert PaymentNotification.objects.count() == 0


def test_forged_signature_is_rejected(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    forger = crypto.generate_private_key()
    _assert_nothing_changed(order, _notify(client, resource, key=forger), 401)


def test_unknown_key_serial_is_rejected(client, prepaid):
    order, _ = prepaid
    _assert_nothing_changed(order, _notify(client, _paid_at_wechat(prepaid), serial="PUB_KEY_ID_OTHER"), 401)


def test_tampered_body_is_rejected(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)

    def tamper(body):
        envelope = json.loads(body)
        envelope["event_type"] = "TRANSACTION.SUCCESS "
        return json.dumps(envelope).encode()

    _assert_nothing_changed(order, _notify(client, resource, body_hook=tamper), 401)


def test_tampered_ciphertext_is_rejected_even_when_re_signed(client, prepaid):
    # An attacker who could sign (they cannot) would still fail the AES-GCM tag.
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    headers, body = crypto.build_notification(
        event_type="TRANSACTION.SUCCESS", resource=resource, platform_key=keys.dev_platform_private_key(),
        serial=keys.DEV_PLATFORM_KEY_ID, apiv3_key=settings.WECHATPAY_APIV3_KEY)
    envelope = json.loads(body)
    raw = bytearray(__import__("base64").b64decode(envelope["resource"]["ciphertext"]))
    raw[5] ^= 0x01
    envelope["resource"]["ciphertext"] = __import__("base64").b64encode(bytes(raw)).decode()
    body = json.dumps(envelope).encode()
    ts, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
    signature = crypto.rsa_sign(keys.dev_platform_private_key(), f"{ts}\n{nonce}\n{body.decode()}\n")
    response = client.post("/payments/wechatpay/notify", data=body, content_type="application/json",
                           HTTP_WECHATPAY_SERIAL=keys.DEV_PLATFORM_KEY_ID, HTTP_WECHATPAY_SIGNATURE=signature,
                           HTTP_WECHATPAY_TIMESTAMP=ts, HTTP_WECHATPAY_NONCE=nonce)
    _assert_nothing_changed(order, response, 401)


def test_stale_timestamp_is_rejected(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    stale = int(timezone.now().timestamp()) - 10 * 60
    _assert_nothing_changed(order, _notify(client, resource, timestamp=stale), 401)


def test_wrong_amount_is_rejected(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    resource["amount"]["total"] = 1
    _assert_nothing_changed(order, _notify(client, resource), 400)


def test_unknown_order_is_rejected(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    resource["out_trade_no"] = "26010199999999"
    _assert_nothing_changed(order, _notify(client, resource), 400)


def test_other_merchant_is_rejected(client, prepaid):
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    resource["mchid"] = "1999999999"
    _assert_nothing_changed(order, _notify(client, resource), 400)


def test_missing_headers_and_garbage_are_rejected(client, prepaid):
    order, _ = prepaid
    response = client.post("/payments/wechatpay/notify", data=b"not json", content_type="application/json")
    _assert_nothing_changed(order, response, 401)


def test_without_a_notification_a_query_settles_the_payment(prepaid):
    order, _ = prepaid
    _paid_at_wechat(prepaid)
    assert payment_sync(order_id=order.pk) == "paid"
    assert payment_sync(order_id=order.pk) == "already_paid"
    assert _state(order)[:2] == (Order.Status.PAID, Payment.Status.SUCCEEDED)


def test_unpaid_order_expires_releases_stock_and_closes_at_wechatpay(prepaid):
    order, _ = prepaid
    with time_machine.travel(order.expires_at + timedelta(seconds=1)):
        outcome = orders_expire_unpaid.delay().get()
    assert outcome == {"cancelled": 1}
    assert _state(order) == (Order.Status.CANCELLED, Payment.Status.CLOSED, Decimal("0.00"))
    assert DevPayTransaction.objects.get(out_trade_no=order.number).state == "CLOSED"
    assert order.cancel_reason == "超时未支付，已自动取消"
    assert stock_ledger_drift() == []


def test_expiry_finds_a_payment_whose_notification_never_came(prepaid):
    order, _ = prepaid
    _paid_at_wechat(prepaid)
    with time_machine.travel(order.expires_at + timedelta(seconds=1)):
        assert order_expire(order_id=order.pk) == "paid"
    assert _state(order)[:2] == (Order.Status.PAID, Payment.Status.SUCCEEDED)
    assert Stock.objects.get(product__order_lines__order=order).reserved == Decimal("4.00")


def test_order_not_yet_due_is_left_alone(prepaid):
    order, _ = prepaid
    assert order_expire(order_id=order.pk) == "not_due"
    assert _state(order)[0] == Order.Status.PENDING_PAYMENT


def test_late_payment_for_an_expired_order_is_refunded_in_full(client, prepaid, django_capture_on_commit_callbacks):
    """Choice: an order whose stock went back on sale is not revived; the money goes back."""
    order, params = prepaid
    # The buyer paid at the last second; our expiry closed the order before the notification came.
    resource = _paid_at_wechat(prepaid)
    from orders.services import order_cancel_unpaid

    order_cancel_unpaid(order_id=order.pk, reason="超时未支付，已自动取消", actor="system")

    with django_capture_on_commit_callbacks(execute=True):
        response = _notify(client, resource)

    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.status) == (Decimal("192.00"), Refund.Status.PROCESSING)
    dev_refund = DevRefund.objects.get(out_refund_no=refund.out_refund_no)
    assert (dev_refund.amount_fen, dev_refund.total_fen) == (19200, 19200)
    # A duplicate notification refunds nothing more.
    assert _notify(client, resource).status_code == 204
    assert Refund.objects.filter(order=order).count() == 1


def test_late_payment_is_acknowledged_when_the_refund_cannot_be_sent_yet(
        client, prepaid, monkeypatch, django_capture_on_commit_callbacks):
    """WeChat Pay is down when the late payment's refund is sent: the notification still gets its
    2xx (the order's state is right and committed), the refund stays recorded as pending with the
    reason, and the periodic resend submits it once WeChat Pay answers again. With tasks run
    eagerly the task's retry used to escape into the notification's answer as a 500."""
    order, _ = prepaid
    resource = _paid_at_wechat(prepaid)
    from orders.services import order_cancel_unpaid
    from orders.tasks import refunds_retry_unfinished
    from wechat.pay.types import WeChatPayError

    order_cancel_unpaid(order_id=order.pk, reason="超时未支付，已自动取消", actor="system")
    backend_class = type(get_backend())
    working_refund = backend_class.pay_refund
    calls = []

    def wechatpay_down(self, **kwargs):
        calls.append(kwargs["out_refund_no"])
        raise WeChatPayError("系统繁忙，请稍后再试", code="SYSTEM_ERROR")

    monkeypatch.setattr(backend_class, "pay_refund", wechatpay_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = _notify(client, resource)

    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.status, refund.last_error) == (
        Decimal("192.00"), Refund.Status.PENDING, "系统繁忙，请稍后再试")
    assert len(calls) == 1  # tried once, not retried in a loop inside WeChat's request
    assert not DevRefund.objects.exists()

    monkeypatch.setattr(backend_class, "pay_refund", working_refund)
    assert refunds_retry_unfinished() == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PROCESSING
    assert DevRefund.objects.get(out_refund_no=refund.out_refund_no).amount_fen == 19200


def test_refund_never_exceeds_what_was_paid(client, prepaid):
    from core.errors import Conflict
    from orders.services import refund_create

    order, _ = prepaid
    _notify(client, _paid_at_wechat(prepaid))
    order = Order.objects.select_related("payment").get(pk=order.pk)
    refund_create(order=order, amount=Decimal("150.00"), reason="短重", actor="staff")
    with pytest.raises(Conflict) as refused:
        refund_create(order=order, amount=Decimal("42.01"), reason="再退", actor="staff")
    assert refused.value.code == "refund_exceeds_paid"
    assert Refund.objects.filter(order=order).count() == 1


def test_prepay_refused_for_a_paid_order(client, prepaid):
    from core.errors import Conflict

    order, _ = prepaid
    _notify(client, _paid_at_wechat(prepaid))
    with pytest.raises(Conflict):
        payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)


def test_dev_pay_sheet_refuses_a_tampered_pay_sign(client, prepaid):
    order, params = prepaid
    client.cookies.clear()
    forged = dict(params, paySign=crypto.rsa_sign(crypto.generate_private_key(), "x"))
    response = client.post("/wechat-dev/pay/confirm", data=forged, content_type="application/json")
    assert response.status_code == 400
    assert DevPayTransaction.objects.get(out_trade_no=order.number).state == "NOTPAY"
