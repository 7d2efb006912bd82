"""A paid order, placed and paid the way a customer does it (checkout, the dev WeChat Pay), to
change or cancel; and the moments around its cut-off."""

from datetime import timedelta

from orders.models import Order, OrderSettings
from orders.services import change_deadline_for, order_place, payment_prepare, payment_sync
from wechat import tasks as wechat_tasks
from wechat.backends import get_backend

NOTIFY_URL = "http://testserver/payments/wechatpay/notify"


def no_dev_notifications(monkeypatch) -> None:
    """The dev WeChat Pay posts its notifications over HTTP; no server listens in these tests
    (the refund is confirmed by the query, refund_submit's fallback, instead)."""
    monkeypatch.setattr(wechat_tasks.requests, "post", lambda *a, **k: (_ for _ in ()).throw(
        wechat_tasks.requests.ConnectionError("not delivered in this test")))


def place_paid(visitor, delivery, items, *, key: str, notify_url: str = NOTIFY_URL) -> Order:
    from catalog.services import cart_line_set

    for product, quantity in items:
        cart_line_set(visitor=visitor, product_id=product.pk, quantity=quantity)
    order, _ = order_place(visitor=visitor, idempotency_key=key, delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url=notify_url)
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    assert payment_sync(order_id=order.pk) in ("paid", "already_paid")  # the notification may come first
    return Order.objects.select_related("payment").get(pk=order.pk)


def deadline_of(order):
    return change_deadline_for(delivery_date=order.delivery_date, settings_row=OrderSettings.current())


def just_before(order):
    return deadline_of(order) - timedelta(seconds=1)
