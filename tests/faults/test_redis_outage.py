"""Redis stops while the shop runs.

Invariant: orders are still taken and paid while Redis is away (Redis holds only what can be
rebuilt); every customer message written during the outage is sent once Redis is back — none
lost, none twice — by the worker and the resend sweep, not by a retry loop that ran meanwhile.
"""

import pytest

from catalog.models import CartLine
from customers.tokens import visitor_token_make
from catalog.services import cart_line_set
from logistics.models import Stock
from notifications.models import Notification
from notifications.tasks import notifications_send_due
from orders.models import Order
from seafood_b2b.celery import app as celery_app
from tests.factories import VisitorFactory
from wechat.backends import get_backend
from wechat.models import DevMessage

from .conftest import order_body
from .harness import http, start_worker, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900)]


def test_orders_are_taken_while_redis_is_down_and_messages_follow_once_it_is_back(world, web, redis_server, log_dir):
    base, auth, shrimp = web["base"], world["auth"], world["shrimp"]
    cart_line_set(visitor=world["visitor"], product_id=shrimp.pk, quantity="3")
    assert http("GET", f"{base}/readyz")[0] == 200

    redis_server.stop()

    assert http("GET", f"{base}/readyz")[0] == 503          # the balancer sees the outage …
    assert http("GET", f"{base}/healthz")[0] == 200         # … while the process is alive
    assert http("GET", f"{base}/shop/")[0] == 200           # the shop's page (and its CSRF cookie)
    status, listing = http("GET", f"{base}/api/v1/catalog/products?category={world['shelf'].pk}", headers=auth)
    assert status == 200 and [row["name"] for row in listing["results"]] == ["去皮虾仁"]
    status, placed = http("POST", f"{base}/api/v1/orders", order_body(), headers=auth)
    assert status == 201, placed
    status, _ = http("POST", f"{base}/wechat-dev/pay/confirm", placed["payment"])
    assert status == 200
    status, synced = http("POST", f"{base}/api/v1/orders/{placed['order']['id']}/sync", headers=auth)
    assert status == 200 and synced["status"] == "paid", synced

    # A new restaurant authorises its phone meanwhile (it is owed its welcome, sent once accepted).
    newcomer = VisitorFactory()
    code = get_backend().issue_phone_code(openid=newcomer.openid, phone="13912345678")
    status, bound = http("POST", f"{base}/api/v1/auth/phone", {"code": code, "nickname": "李老板"},
                         headers={"Authorization": f"Visitor {visitor_token_make(newcomer.pk)}"})
    assert status == 200, bound

    order = Order.objects.get(pk=placed["order"]["id"])
    assert order.status == "paid" and CartLine.objects.filter(cart__visitor=world["visitor"]).count() == 0
    stock = Stock.objects.get(product=shrimp)
    assert stock.on_hand - stock.reserved == 7  # 3 of 10 taken, exactly once
    outbound = Notification.objects.exclude(channel="inbox")
    pending_during_outage = set(outbound.filter(status="pending").values_list("pk", flat=True))
    assert pending_during_outage  # the payment's message at least, waiting for Redis
    assert not outbound.filter(status="sent").exists()  # nothing could be handed to a worker
    assert "Internal Server Error" not in web["process"].log()
    assert "Redis cache unreachable" in web["process"].log()

    redis_server.start()
    worker = start_worker(web["env"], log_dir)
    try:
        # Beat's minutely resend sweep, sent through the restarted Redis, twice.
        celery_app.conf.broker_url = redis_server.url()
        celery_app.conf.task_always_eager = False
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        notifications_send_due.delay()
        notifications_send_due.delay()
        wait_until(lambda: not outbound.filter(pk__in=pending_during_outage, status="pending").exists(),
                   timeout=120, what=f"the worker to send what waited ({worker.log_path})")
        assert http("GET", f"{base}/readyz")[0] == 200
    finally:
        worker.stop()
        celery_app.conf.task_always_eager = True
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
    for notification in Notification.objects.filter(pk__in=pending_during_outage):
        assert notification.status in {"sent", "no_consent"}, notification.status
    sent = Notification.objects.filter(pk__in=pending_during_outage, status="sent")
    assert DevMessage.objects.count() == sent.count()  # each once
