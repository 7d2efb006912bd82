"""PostgreSQL connections cut under the running web process.

`pg_terminate_backend` is what a database restart, a failover or a network cut does to each
client: the connection dies, mid-transaction or while idle. The restart case terminates every
connection the web process has (PostgreSQL itself is shared and is never restarted by a test). Invariants: a request whose connection
dies answers a clean error in the usual shape (503, retry), never a half order, a double payment
or stock that disagrees with its ledger; and the requests after it succeed.
"""

import threading
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum

from catalog.models import CartLine
from catalog.services import cart_line_set
from logistics.models import Stock, StockMove
from orders.models import Order, Payment

from .conftest import order_body
from .harness import backends_of, http, terminate, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900)]


def _in_thread(call):
    """Run call() in a thread; returns (thread, box) where box["result"] is its answer."""
    box = {}
    thread = threading.Thread(target=lambda: box.__setitem__("result", call()), daemon=True)
    thread.start()
    return thread, box


def _ledger_agrees(product) -> None:
    stock = Stock.objects.get(product=product)
    moves = StockMove.objects.filter(stock=stock).aggregate(on_hand=Sum("on_hand_delta"))
    assert stock.on_hand == moves["on_hand"]


def _assert_clean_failure(status, body) -> None:
    assert status == 503, (status, body)
    assert body["error"]["code"] == "service_unavailable" and "重试" in body["error"]["message"]


def test_connection_cut_during_checkout_leaves_no_half_order_and_the_retry_succeeds(world, web):
    base, auth, shrimp = web["base"], world["auth"], world["shrimp"]
    cart_line_set(visitor=world["visitor"], product_id=shrimp.pk, quantity="3")
    body = order_body()

    with transaction.atomic():
        Stock.objects.select_for_update().get(product=shrimp)  # checkout will wait here, mid-transaction
        thread, box = _in_thread(lambda: http("POST", f"{base}/api/v1/orders", body, headers=auth))
        stuck = wait_until(lambda: backends_of(waiting_on_lock=True), what="checkout to wait on the stock row")
        terminate(stuck)
        thread.join(timeout=120)

    _assert_clean_failure(*box["result"])
    assert Order.objects.count() == 0
    stock = Stock.objects.get(product=shrimp)
    assert (stock.on_hand, stock.reserved) == (Decimal("10"), Decimal("0"))
    assert CartLine.objects.filter(cart__visitor=world["visitor"]).count() == 1  # the basket is still there

    status, placed = http("POST", f"{base}/api/v1/orders", body, headers=auth)  # the client's retry

    assert status == 201, placed
    assert Order.objects.count() == 1
    stock.refresh_from_db()
    assert stock.reserved == Decimal("3")
    _ledger_agrees(shrimp)


def test_connection_cut_during_payment_settlement_pays_once_on_the_retry(world, web):
    base, auth, shrimp = web["base"], world["auth"], world["shrimp"]
    cart_line_set(visitor=world["visitor"], product_id=shrimp.pk, quantity="3")
    http("GET", f"{base}/shop/")  # the CSRF cookie, as the page has it
    status, placed = http("POST", f"{base}/api/v1/orders", order_body(), headers=auth)
    assert status == 201
    assert http("POST", f"{base}/wechat-dev/pay/confirm", placed["payment"])[0] == 200
    order_id = placed["order"]["id"]

    with transaction.atomic():
        Order.objects.select_for_update().get(pk=order_id)  # settlement will wait here
        thread, box = _in_thread(lambda: http("POST", f"{base}/api/v1/orders/{order_id}/sync", headers=auth))
        stuck = wait_until(lambda: backends_of(waiting_on_lock=True), what="settlement to wait on the order")
        terminate(stuck)
        thread.join(timeout=120)

    _assert_clean_failure(*box["result"])
    assert Order.objects.get(pk=order_id).status == "pending_payment"  # nothing half-settled

    status, synced = http("POST", f"{base}/api/v1/orders/{order_id}/sync", headers=auth)

    assert status == 200 and synced["status"] == "paid", synced
    assert Payment.objects.filter(order_id=order_id, status="succeeded").count() == 1
    stock = Stock.objects.get(product=shrimp)
    assert stock.on_hand - stock.reserved == Decimal("7")
    _ledger_agrees(shrimp)


def test_a_database_restart_cuts_every_connection_idle_and_mid_request_and_the_next_requests_recover(world, web):
    """The restart case. The shared PostgreSQL server is never restarted here (other suites use
    it); a restart is, to each client, every one of its connections ended by the server, which is
    what terminating all of the web process's backends does. Invariant: after every connection
    of the web process is cut — while it idles, and again while a checkout is in flight — the
    request in flight fails cleanly (503, retry; no half order, the stock untouched) and every
    request after it succeeds, on connections the process opens again by itself."""
    base, auth, shrimp = web["base"], world["auth"], world["shrimp"]
    for _ in range(8):  # warm every thread's persistent connection
        assert http("GET", f"{base}/api/v1/cart", headers=auth)[0] == 200
    idle = wait_until(backends_of, what="the web's persistent connections")

    terminate(backends_of())  # 1. restart while idle: all of them

    assert [http("GET", f"{base}/api/v1/cart", headers=auth)[0] for _ in range(8)] == [200] * 8
    assert not set(idle) & set(backends_of())  # new connections, the old ones are gone

    cart_line_set(visitor=world["visitor"], product_id=shrimp.pk, quantity="3")
    body = order_body()
    with transaction.atomic():
        Stock.objects.select_for_update().get(product=shrimp)  # checkout will wait here, mid-request
        thread, box = _in_thread(lambda: http("POST", f"{base}/api/v1/orders", body, headers=auth))
        wait_until(lambda: backends_of(waiting_on_lock=True), what="checkout to wait on the stock row")
        everything = backends_of()
        terminate(everything)  # 2. restart mid-request: the busy connection and every idle one
        thread.join(timeout=120)

    _assert_clean_failure(*box["result"])
    assert Order.objects.count() == 0
    stock = Stock.objects.get(product=shrimp)
    assert (stock.on_hand, stock.reserved) == (Decimal("10"), Decimal("0"))
    assert [http("GET", f"{base}/api/v1/cart", headers=auth)[0] for _ in range(8)] == [200] * 8
    status, placed = http("POST", f"{base}/api/v1/orders", body, headers=auth)  # the client's retry
    assert status == 201, placed
    assert Order.objects.count() == 1
    _ledger_agrees(shrimp)
