"""WeChat Pay's notification against the running web process, in the orders it really comes in.

The notification is built as WeChat Pay builds it (the dev WeChat Pay's transaction as its
resource, AES-256-GCM with the APIv3 key, a fresh timestamp and nonce, signed with the platform
key) and posted to gunicorn; no Celery worker runs, so nothing else settles the payment meanwhile.

Invariant: however a payment's news arrives — the notification before the browser comes back
from the payment sheet, the same notification twice at the same moment and once more later, or
a notification for an order our expiry has already cancelled — WeChat Pay gets its 204, the
payment is settled exactly once (one succeeded payment, one paid event, one paid message) or, for
the cancelled order, refunded in full exactly once, and the stock agrees with its ledger.
"""

import threading
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Sum

from catalog.services import cart_line_set
from logistics.models import Stock, StockMove
from notifications.models import Notification
from orders.models import Order, OrderEvent, Payment, PaymentNotification, Refund
from orders.services import order_cancel_unpaid
from wechat.backends.dev_pay import dev_transaction_resource
from wechat.pay import crypto, keys

from .conftest import order_body
from .harness import http

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900)]


def _built(out_trade_no: str) -> tuple[dict, bytes]:
    """What WeChat Pay would post for the order's transaction as it stands now."""
    resource = dev_transaction_resource(out_trade_no)
    assert resource and resource["trade_state"] == "SUCCESS", resource
    return crypto.build_notification(event_type="TRANSACTION.SUCCESS", resource=resource, summary="支付成功",
                                     platform_key=keys.dev_platform_private_key(), serial=keys.DEV_PLATFORM_KEY_ID,
                                     apiv3_key=settings.WECHATPAY_APIV3_KEY)


def _post_notification(base: str, headers: dict, body: bytes) -> int:
    request = urllib.request.Request(f"{base}/payments/wechatpay/notify", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _placed_and_paid_at_wechat(world, base) -> Order:
    """An order placed over HTTP and paid on the (dev) payment sheet; no notification sent yet."""
    cart_line_set(visitor=world["visitor"], product_id=world["shrimp"].pk, quantity="3")
    http("GET", f"{base}/shop/")  # the CSRF cookie, as the page has it
    status, placed = http("POST", f"{base}/api/v1/orders", order_body(), headers=world["auth"])
    assert status == 201, placed
    assert http("POST", f"{base}/wechat-dev/pay/confirm", placed["payment"])[0] == 200
    order = Order.objects.get(pk=placed["order"]["id"])
    assert order.status == "pending_payment"  # no worker: the dev WeChat Pay's own notification waits
    return order


def _assert_settled_once(order: Order, shrimp) -> None:
    order.refresh_from_db()
    assert order.status == "paid"
    assert Payment.objects.filter(order=order, status="succeeded").count() == 1
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 1
    assert Notification.objects.filter(event_key=f"order:{order.pk}:paid").count() == 1
    _assert_stock(shrimp, available=Decimal("7"))


def _assert_stock(shrimp, *, available: Decimal) -> None:
    stock = Stock.objects.get(product=shrimp)
    assert stock.on_hand - stock.reserved == available
    assert StockMove.objects.filter(stock=stock).aggregate(total=Sum("on_hand_delta"))["total"] == stock.on_hand


def test_the_notification_arrives_before_the_browser_returns(world, web):
    base = web["base"]
    order = _placed_and_paid_at_wechat(world, base)

    assert _post_notification(base, *_built(order.number)) == 204  # WeChat Pay is faster than the phone
    status, synced = http("POST", f"{base}/api/v1/orders/{order.pk}/sync", headers=world["auth"])  # the browser

    assert status == 200 and synced["status"] == "paid", synced
    _assert_settled_once(order, world["shrimp"])


def test_the_same_notification_twice_at_once_and_a_retry_later_settle_once(world, web):
    base = web["base"]
    order = _placed_and_paid_at_wechat(world, base)
    headers, body = _built(order.number)
    answers = []
    gate = threading.Barrier(2)

    def deliver():
        gate.wait()
        answers.append(_post_notification(base, headers, body))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    later = _post_notification(base, *_built(order.number))  # WeChat Pay's retry: a new id, nonce and signature

    assert sorted(answers) == [204, 204] and later == 204
    _assert_settled_once(order, world["shrimp"])
    assert PaymentNotification.objects.filter(out_trade_no=order.number).count() == 2  # one per notification id


def test_a_notification_after_expiry_refunds_in_full_once(world, web):
    """The buyer paid at the last second; our expiry cancelled the order (its stock back on sale)
    before the notification came: the money goes back, the order is not revived."""
    base = web["base"]
    order = _placed_and_paid_at_wechat(world, base)
    assert order_cancel_unpaid(order_id=order.pk, reason="超时未支付，已自动取消", actor="system")
    _assert_stock(world["shrimp"], available=Decimal("10"))

    first = _post_notification(base, *_built(order.number))
    again = _post_notification(base, *_built(order.number))  # and WeChat Pay retries

    assert (first, again) == (204, 204)
    order.refresh_from_db()
    assert order.status == "cancelled"
    refund = Refund.objects.get(order=order)  # exactly one
    assert refund.amount == order.total
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 0
    _assert_stock(world["shrimp"], available=Decimal("10"))  # released once, not twice, not taken back
