"""A Celery worker killed with SIGKILL in the middle of a task.

The task here is the expiry sweep (orders_expire_unpaid), killed while it holds its transaction
open on an order it is cancelling. Invariant: the work is done exactly once in the end — the order
cancelled once, its stock released once, the ledger equal to the stock — whether the pool process
dies (its parent re-queues the message: acks late, reject on worker lost) or the whole worker dies
(the message waits in Redis; the next sweep, as beat sends it every minute, does the work).
"""

import signal
import subprocess
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from catalog.services import cart_line_set
from logistics.models import Stock, StockMove
from orders.models import Order, OrderEvent
from orders.services import DeliveryInput, order_place
from orders.tasks import orders_expire_unpaid
from seafood_b2b.celery import app as celery_app

from .conftest import DELIVERY
from .harness import backends_of, service_env, start_worker, terminate, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900)]


@pytest.fixture
def broker(redis_server):
    saved = {key: celery_app.conf[key] for key in ("task_always_eager", "broker_url")}
    celery_app.conf.update(task_always_eager=False, broker_url=redis_server.url())
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield celery_app
    celery_app.conf.update(saved)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def overdue_order(world):
    cart_line_set(visitor=world["visitor"], product_id=world["shrimp"].pk, quantity="3")
    order, _ = order_place(visitor=world["visitor"], idempotency_key="k" * 32, delivery=DeliveryInput.parse(DELIVERY))
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    return order


def _children(pid: int) -> list[int]:
    """The worker's pool processes: the rest of its process group (it leads its own session)."""
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split() if int(line) != pid]


def _assert_cancelled_once(order, shrimp):
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert OrderEvent.objects.filter(order=order, to_status="cancelled").count() == 1
    stock = Stock.objects.get(product=shrimp)
    assert (stock.on_hand, stock.reserved) == (Decimal("10"), Decimal("0"))
    assert StockMove.objects.filter(stock=stock).aggregate(total=Sum("on_hand_delta"))["total"] == stock.on_hand


@pytest.mark.parametrize("killed", ["pool process", "whole worker"])
def test_a_worker_killed_mid_task_the_work_is_done_once(world, redis_server, broker, overdue_order, log_dir, killed):
    env = service_env(redis_url=redis_server.url(), WECHATPAY_DEV_KEY_DIR=world["key_dir"])
    worker = start_worker(env, log_dir)
    try:
        with transaction.atomic():
            Order.objects.select_for_update().get(pk=overdue_order.pk)  # the sweep will wait here, mid-task
            orders_expire_unpaid.delay()
            stuck = wait_until(lambda: backends_of(waiting_on_lock=True), timeout=180,
                               what="the sweep to wait on the order", log=worker)
            if killed == "pool process":
                (child,) = _children(worker.process.pid)
                subprocess.run(["kill", "-KILL", str(child)], check=True)
            else:
                worker.kill(signal.SIGKILL)
            terminate(stuck)  # what the server does on its own once it notices the client is gone
            assert Order.objects.get(pk=overdue_order.pk).status == "pending_payment"  # nothing half done
        if killed == "whole worker":
            worker.stop()
            worker = start_worker(env, log_dir, name="worker2")
            orders_expire_unpaid.delay()  # beat's next minute
        wait_until(lambda: Order.objects.get(pk=overdue_order.pk).status == "cancelled", timeout=300,
                   what="the order to be cancelled after the kill", log=worker)
        orders_expire_unpaid.delay()  # and once more: nothing left to do
        wait_until(lambda: "orders_expire_unpaid" in worker.log() and worker.log().count("succeeded") >= 2,
                   timeout=300, what="the second sweep to finish", log=worker)
    finally:
        worker.stop()
    _assert_cancelled_once(overdue_order, world["shrimp"])
