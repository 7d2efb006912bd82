#!/usr/bin/env python
"""Checkout benchmark: WeChat visitors placing orders over HTTP, against the raw SQL rate.

    .venv/bin/python bench/checkout.py [--scale 1] [--clients 8] [--duration 15] [--repeat 1]

Seeds PostgreSQL with the demo data and its order history (`seed_demo --scale N`, 180,000 past
orders x N), runs ANALYZE, prepares one WeChat visitor per client (bound to a seeded restaurant,
with a visitor token), then in one run:

1. raw: the equivalent SQL transaction issued directly to PostgreSQL by as many threads as there are
   clients (lock the lines' stock rows in product order, add to reserved, insert the order and its
   lines into the real tables, commit); its transactions/s is the baseline;
2. uniform: each client places orders back to back, 3-5 SKUs out of a pool with plentiful stock: by
   default one POST /api/v1/orders carrying the basket (`lines`), as the mini program's checkout page
   sends it (--flow cart: the basket is first put into the server cart with one PUT per line, and the
   whole sequence is timed); that is validation, pricing, stock reservation, the order and the dev
   WeChat Pay prepay and paySign signing, all over HTTP;
3. hot spot: every client buys the same 3 SKUs, whose stock covers only part of the demand, so some
   checkouts are refused with 409 (counted, not errors); then, per SKU, the units taken from
   available stock must equal the units in the run's order lines, and the stock ledger must balance.

Prints orders/s, p50/p95/p99, errors, refusals, oversold units, raw tx/s and the ratio, and checks
them against the targets of the issue. Exits 1 on any error, oversell or accounting mismatch.
Leaves the database tidy: the run's unpaid orders are cancelled (stock released through the
service), the raw orders deleted and their reservations taken back. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/checkout.py`, Python puts bench/ first on sys.path, where bench/catalog.py
# would shadow the `catalog` app. Put the project root there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench._http_load import (  # noqa: E402
    HOST,
    GunicornServer,
    machine_busy_seconds,
    median,
    percentile,
    render_table,
)
from bench.catalog import ensure_database, redact, run_manage, server_environment  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seafood_bench_checkout"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
VISITOR_PREFIX = "bench-checkout-"  # openid of the benchmark's visitors
RAW_PREFIX = "rawbench-"  # idempotency key of the raw baseline's orders
POOL_SIZE = 300  # SKUs the uniform run buys from
HOT_SKUS = 3
PLENTY = Decimal("100000")  # available units a pool SKU is topped up to
# The issue's targets.
TARGET_RATIO = 0.25
TARGET_P99 = 0.250
DELIVERY = {
    "restaurant_name": "压测餐厅", "contact_name": "压测", "address": "深圳市福田区压测路1号",
    "district": "福田区", "latitude": "22.540000", "longitude": "114.060000",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="seed_demo scale: 3,000 SKUs, 5,000 restaurants and ~180,000 past orders x N (default 1)")
    parser.add_argument("--history-months", type=int, default=6, help="months of seeded order history (default 6)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, HTTP and raw alike (default 8)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per phase (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase (default 3)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of raw + uniform; medians reported")
    parser.add_argument("--hot-orders", type=int, default=None,
                        help="orders' worth of stock each hot SKU gets (default: 40%% of what the uniform run "
                             "placed in the same time, at least 10), so demand outruns it")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CHECKOUT_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_CHECKOUT_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--no-seed", action="store_true", help="use the database as it is: no migrate/seed")
    parser.add_argument("--skip-hot", action="store_true", help="leave out the hot-spot run")
    parser.add_argument("--flow", choices=("lines", "cart"), default="lines",
                        help="lines (default): each order is one POST carrying the confirmed basket, as the mini "
                             "program's checkout page sends it; cart: the basket is first put into the server cart "
                             "with one PUT per line, and the whole sequence is timed as the order")
    parser.add_argument("--profile", action="store_true",
                        help="also print the SQL of one checkout with its timings, and (if pyinstrument is "
                             "installed) an in-process profile of 50 checkouts")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--results", metavar="PATH", help="also write the rows for bench/RESULTS.md (make bench)")
    parser.add_argument("--no-real-pay", action="store_true",
                        help="leave out the row whose prepay is the real backend against the loopback fake")
    parser.add_argument("--price-list", action="store_true",
                        help="the bench restaurants buy at a price list covering every pool SKU (product and "
                             "category entries; bench/checkout_price_list.py); without it they have none")
    parser.add_argument("--coupon-share", type=float, default=0.0, metavar="F",
                        help="a share F (0-1) of the orders carry a coupon (5%% off capped, limited to the pool's "
                             "shelves; bench/checkout_coupons.py); default 0: none")
    args = parser.parse_args(argv)
    if not 0 <= args.coupon_share <= 1:
        parser.error("--coupon-share must be between 0 and 1")
    if args.duration <= 0 or args.clients < 1 or args.repeat < 1 or (args.hot_orders or 1) < 1:
        parser.error("--duration, --clients, --repeat and --hot-orders must be positive")
    return args


# --------------------------------------------------------------------------------------------
# Data.


def prepare_database(args, env) -> None:
    started = time.monotonic()
    ensure_database(args.database_url)
    run_manage(env, "migrate", "--noinput")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM catalog_product), "
                       "EXISTS (SELECT 1 FROM orders_order WHERE idempotency_key LIKE 'seed-%%')")
        has_products, has_history = cursor.fetchone()
    if not (has_products and has_history):
        # Without --if-empty every step adds only what is missing: history on an older seed, say.
        print(f"Seeding {redact(args.database_url)}: seed_demo --scale {args.scale:g} "
              f"--history-months {args.history_months}", flush=True)
        run_manage(env, "seed_demo", "--scale", f"{args.scale:g}", "--history-months", str(args.history_months),
                   stream=True)
    print(f"  database ready in {time.monotonic() - started:.0f} s", flush=True)


def analyze() -> float:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.monotonic() - started


@dataclass
class Sku:
    pk: int
    name: str
    quantity: Decimal  # what one order line takes: the product's minimum
    price: Decimal


@dataclass
class BenchData:
    visitors: list  # (visitor_id, customer_id, rep_id, token)
    pool: list[Sku]
    hot: list[Sku]
    orders: int
    lines: int
    customers: int
    products: int
    server_version: int
    coupons: list = field(default_factory=list)  # per visitor: coupon ids of its restaurant (--coupon-share)
    coupon_share: float = 0.0


def cancel_leftovers() -> int:
    """Unpaid orders of earlier benchmark runs give their stock back, through the service."""
    from orders.models import Order
    from orders.services import order_cancel_unpaid

    ids = list(Order.objects.filter(status=Order.Status.PENDING_PAYMENT, visitor__openid__startswith=VISITOR_PREFIX)
               .values_list("pk", flat=True))
    for order_id in ids:
        order_cancel_unpaid(order_id=order_id, reason="压测结束，取消未付款订单", actor="bench")
    return len(ids)


def raw_cleanup() -> int:
    """Take back what raw transactions reserved and delete their orders: stock matches its ledger again."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE logistics_stock s SET reserved = s.reserved - t.quantity
            FROM (SELECT l.product_id, SUM(l.quantity) AS quantity
                  FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
                  WHERE o.idempotency_key LIKE %s GROUP BY l.product_id) t
            WHERE s.product_id = t.product_id
            """,
            [RAW_PREFIX + "%"],
        )
        cursor.execute("DELETE FROM orders_orderline WHERE order_id IN "
                       "(SELECT id FROM orders_order WHERE idempotency_key LIKE %s)", [RAW_PREFIX + "%"])
        cursor.execute("DELETE FROM orders_order WHERE idempotency_key LIKE %s", [RAW_PREFIX + "%"])
        return cursor.rowcount


WRITE_TABLES = ("orders_order", "orders_orderline", "orders_payment", "orders_orderevent", "logistics_stock",
                "logistics_stockmove", "wechat_devpaytransaction", "catalog_cartline", "customers_visitor",
                # --coupon-share: the coupons just issued, and the redemptions the last phase's cancelled
                # orders released (their dead versions), which a coupon phase would otherwise step over.
                "coupons_coupon", "coupons_couponredemption")


def vacuum_write_tables() -> float:
    """VACUUM what the phases write, before each phase: a phase must not pay for the dead rows the
    previous one (or its cleanup) left. Without it the raw baseline slowed down round after round
    (its keys land among the dead index entries of the last round's deleted raw orders), which
    flattered the ratio."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) " + ", ".join(WRITE_TABLES))
    return time.monotonic() - started


def set_available(sku: Sku, units: Decimal) -> None:
    """Available stock (on hand - reserved) of one SKU to exactly `units`, through the ledger."""
    from logistics.models import Stock, StockMove
    from logistics.services import stock_adjust

    stock, _ = Stock.objects.get_or_create(product_id=sku.pk)
    delta = units - (stock.on_hand - stock.reserved)
    if delta:
        stock_adjust(product_id=sku.pk, on_hand_delta=delta, kind=StockMove.Kind.ADJUSTMENT,
                     reference="bench-checkout", note="压测设定库存")


def prepare_bench_data(args) -> BenchData:
    from django.db import connection

    from catalog.models import Product
    from customers.models import Customer, Visitor
    from customers.tokens import visitor_token_make
    from orders.models import Order, OrderLine, OrderSettings

    leftovers = cancel_leftovers() + raw_cleanup()
    if leftovers:
        print(f"  tidied {leftovers} orders left by an earlier, interrupted run", flush=True)
    rules = OrderSettings.current()
    if rules.min_order_amount > Decimal("1.00"):
        # Baskets of minimum quantities must pass; the fee rules stay as they are.
        OrderSettings.objects.filter(pk=rules.pk).update(min_order_amount=Decimal("1.00"))

    customers = list(Customer.objects.filter(orders__isnull=False).distinct().order_by("pk")
                     .values_list("pk", "phone", "rep_id")[: args.clients])
    if len(customers) < args.clients:
        sys.exit("bench: not enough seeded restaurants with history; drop --no-seed or reseed")
    visitors = []
    for k, (customer_id, phone, rep_id) in enumerate(customers):
        visitor, _ = Visitor.objects.update_or_create(
            openid=f"{VISITOR_PREFIX}{k:03d}", defaults={"customer_id": customer_id, "phone": phone,
                                                           "nickname": f"压测{k}"})
        visitors.append((visitor.pk, customer_id, rep_id, visitor_token_make(visitor.pk)))

    # Orderable SKUs spread over the catalogue, with a price and a stock row; fixed across runs.
    candidates = list(Product.objects.active().filter(price__gt=0, stock__isnull=False).order_by("code")
                      .values_list("pk", "name", "min_quantity", "price"))
    if len(candidates) < POOL_SIZE + HOT_SKUS:
        sys.exit(f"bench: only {len(candidates)} orderable SKUs; need {POOL_SIZE + HOT_SKUS}")
    step = len(candidates) // (POOL_SIZE + HOT_SKUS)
    chosen = [Sku(*row) for row in candidates[::step][: POOL_SIZE + HOT_SKUS]]
    pool, hot = chosen[:POOL_SIZE], chosen[POOL_SIZE:]
    for sku in pool:
        set_available(sku, PLENTY)
    from bench.checkout_price_list import assign_price_list

    entries = assign_price_list(customer_ids=[c[0] for c in customers], pool_product_ids=[sku.pk for sku in pool],
                                enabled=args.price_list)
    print(f"  price list: {f'{entries} entries, every pool SKU covered' if args.price_list else 'none'}", flush=True)
    from bench.checkout_coupons import coupons_needed, issue_bench_coupons

    # Each phase starts from the first coupon again: the previous phase's orders were cancelled,
    # which gave their coupons back.
    per_customer = coupons_needed(share=args.coupon_share, seconds=args.warmup + args.duration, rounds=1)
    coupons = issue_bench_coupons(customer_ids=[c[0] for c in customers], pool_product_ids=[sku.pk for sku in pool],
                                  per_customer=per_customer)
    print(f"  coupons: {f'{per_customer} per restaurant, on {args.coupon_share:.0%} of the orders' if per_customer else 'none'}",
          flush=True)
    return BenchData(coupons=[coupons[c[0]] for c in customers], coupon_share=args.coupon_share,
        visitors=visitors, pool=pool, hot=hot, orders=Order.objects.count(), lines=OrderLine.objects.count(),
        customers=Customer.objects.count(), products=Product.objects.count(),
        server_version=connection.cursor().connection.server_version,
    )


# --------------------------------------------------------------------------------------------
# HTTP clients.


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)  # POST /api/v1/orders, 201 inside the window
    refused: Counter = field(default_factory=Counter)  # 409 code -> count (checkout or cart)
    errors: Counter = field(default_factory=Counter)
    attempts: int = 0


@dataclass
class Phase:
    name: str
    duration: float
    latencies: list[float]
    refused: Counter
    errors: Counter
    server_cpu: float = math.nan
    client_cpu: float = math.nan
    machine_cpu: float = math.nan

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.duration

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


def _request(conn, method: str, path: str, headers: dict, body: dict | None) -> tuple[int, dict]:
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.will_close:
        conn.close()
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = {}
    return response.status, parsed


def _error_code(body: dict) -> str:
    return (body.get("error") or {}).get("code", "?") if isinstance(body, dict) else "?"


def checkout_client(*, port: int, token: str, basket, tag: str, start_at: float, measure_from: float,
                    stop_at: float, stats: ClientStats, flow: str = "lines", coupon=None) -> None:
    """One visitor placing orders back to back until stop_at; each order is timed from its first request.

    flow "lines": one POST /api/v1/orders carrying the basket the buyer confirmed (what the mini
    program sends from its checkout page). flow "cart": the basket put into the server cart line by
    line (PUT /api/v1/cart/lines/<id>), then the POST without lines; the whole sequence is timed.
    """
    headers = {"Host": f"{HOST}:{port}", "Authorization": f"Visitor {token}", "Content-Type": "application/json",
               "Connection": "keep-alive"}
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    clock, perf = time.monotonic, time.perf_counter
    time.sleep(max(0.0, start_at - clock()))
    n = 0
    while clock() < stop_at:
        n += 1
        skus = basket()
        body = {"idempotency_key": f"{tag}-{n}", **DELIVERY}
        coupon_id = coupon() if coupon else None
        if coupon_id:
            body["coupon_id"] = coupon_id
        began = perf()
        try:
            if flow == "cart":
                cart_ok = True
                for sku in skus:
                    status, answer = _request(conn, "PUT", f"/api/v1/cart/lines/{sku.pk}", headers,
                                              {"quantity": str(sku.quantity)})
                    if status != 200:
                        cart_ok = False
                        if measure_from <= clock() <= stop_at:
                            if status == 409:  # sold out already when adding to the cart: a refusal
                                stats.refused[f"cart {_error_code(answer)}"] += 1
                            else:
                                stats.errors[f"PUT /api/v1/cart/lines -> HTTP {status} {_error_code(answer)}"] += 1
                        break
                if not cart_ok:
                    _request(conn, "DELETE", "/api/v1/cart", headers, None)
                    continue
            else:
                body["lines"] = [{"product_id": sku.pk, "quantity": str(sku.quantity)} for sku in skus]
            status, answer = _request(conn, "POST", "/api/v1/orders", headers, body)
            elapsed = perf() - began
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if clock() >= measure_from:
                stats.errors[f"{type(exc).__name__}: {exc}"] += 1
            continue
        done = clock()
        if done < measure_from or done > stop_at:
            if status == 409 and flow == "cart":
                _request(conn, "DELETE", "/api/v1/cart", headers, None)
            continue  # warm-up, or finished after the window: neither counted nor timed
        stats.attempts += 1
        if status == 201 and answer.get("payment") and not answer.get("payment_error"):
            stats.latencies.append(elapsed)
        elif status == 409:
            stats.refused[f"checkout {_error_code(answer)}"] += 1
            if flow == "cart":
                _request(conn, "DELETE", "/api/v1/cart", headers, None)  # what a buyer does after "sold out"
        else:
            detail = answer.get("payment_error") or _error_code(answer)
            stats.errors[f"POST /api/v1/orders -> HTTP {status} {detail}"] += 1
    conn.close()


def run_http_phase(*, name: str, server: GunicornServer, data: BenchData, tag: str, basket_for, duration: float,
                   warmup: float, flow: str = "lines", coupon_share: float | None = None) -> Phase:
    """One phase of HTTP checkouts; `coupon_share` (default: the run's --coupon-share) is the share
    of its orders that carry a coupon (0: none, the comparison phase of a coupon run)."""
    start_at = time.monotonic() + 0.3
    measure_from = start_at + warmup
    stop_at = measure_from + duration
    stats = [ClientStats() for _ in data.visitors]
    from bench.checkout_coupons import coupon_chooser

    share = data.coupon_share if coupon_share is None else coupon_share
    coupon_choosers = [coupon_chooser(share, ids) for ids in data.coupons] if data.coupons and share else None
    threads = [
        threading.Thread(target=checkout_client, daemon=True, kwargs=dict(
            port=server.port, token=token, basket=basket_for(k), tag=f"{tag}-{k}", start_at=start_at,
            measure_from=measure_from, stop_at=stop_at, stats=stats[k], flow=flow,
            coupon=coupon_choosers[k] if coupon_choosers else None))
        for k, (_, _, _, token) in enumerate(data.visitors)
    ]
    for thread in threads:
        thread.start()
    cpu = _CpuSampler(server.cpu_seconds, measure_from, stop_at)
    for thread in threads:
        thread.join()
    cpu.join()
    phase = Phase(name=name, duration=duration, latencies=[x for s in stats for x in s.latencies],
                  refused=sum((s.refused for s in stats), Counter()), errors=sum((s.errors for s in stats), Counter()))
    phase.server_cpu, phase.client_cpu, phase.machine_cpu = cpu.result
    return phase


class _CpuSampler(threading.Thread):
    """CPU seconds of the server, of this process (the clients) and of the machine over the window."""

    def __init__(self, server_cpu, start: float, stop: float):
        super().__init__(daemon=True)
        self.server_cpu, self.start_at, self.stop_at = server_cpu, start, stop
        self.result = (math.nan, math.nan, math.nan)
        self.start()

    def _sample(self):
        # process_time(): this process's threads only (gunicorn is a child, not counted here).
        return self.server_cpu(), time.process_time(), machine_busy_seconds()

    def run(self):
        time.sleep(max(0.0, self.start_at - time.monotonic()))
        before = self._sample()
        time.sleep(max(0.0, self.stop_at - time.monotonic()))
        after = self._sample()
        self.result = tuple(b - a for a, b in zip(before, after))


def uniform_baskets(data: BenchData, seed: int):
    """3-5 distinct pool SKUs per order, a different stream per client."""

    def for_client(k: int):
        rng = random.Random(f"{seed}:{k}")
        return lambda: rng.sample(data.pool, rng.randint(3, 5))

    return for_client


# --------------------------------------------------------------------------------------------
# Raw SQL baseline.

RAW_ORDER_SQL = """
INSERT INTO orders_order (id, number, customer_id, visitor_id, rep_id, status, idempotency_key, delivery_date,
    subtotal, delivery_fee, discount, total, restaurant_name, contact_name, phone, address, district, latitude,
    longitude, note, expires_at, paid_at, cancelled_at, cancel_reason, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, 'pending_payment', %s, CURRENT_DATE + 1, %s, 0, 0, %s, %s, %s, '', %s, %s, %s, %s, '',
    now() + interval '15 minutes', NULL, NULL, '', now(), now())
"""


def raw_client(*, dsn: dict, visitor, skus_for, tag: str, start_at: float, measure_from: float, stop_at: float,
               stats: ClientStats) -> None:
    """The checkout's essential SQL, nothing else: lock stock rows in product order, reserve, insert, commit."""
    import psycopg2
    from psycopg2.extras import execute_values

    visitor_id, customer_id, rep_id, _ = visitor
    conn = psycopg2.connect(**dsn)
    cur = conn.cursor()
    clock, perf = time.monotonic, time.perf_counter
    time.sleep(max(0.0, start_at - clock()))
    n = 0
    while clock() < stop_at:
        n += 1
        skus = sorted(skus_for(), key=lambda s: s.pk)
        began = perf()
        try:
            cur.execute("SELECT product_id, on_hand - reserved FROM logistics_stock WHERE product_id = ANY(%s) "
                        "ORDER BY product_id FOR UPDATE", ([s.pk for s in skus],))
            available = dict(cur.fetchall())
            if any(available.get(s.pk, 0) < s.quantity for s in skus):
                conn.rollback()
                stats.refused["raw insufficient_stock"] += 1
                continue
            execute_values(cur, "UPDATE logistics_stock s SET reserved = s.reserved + v.q, updated_at = now() "
                                "FROM (VALUES %s) AS v(pid, q) WHERE s.product_id = v.pid",
                           [(s.pk, s.quantity) for s in skus], template="(%s, %s::numeric)")
            order_id = uuid.uuid4()
            amounts = [(s.price * s.quantity).quantize(Decimal("0.01")) for s in skus]
            total = sum(amounts, Decimal("0.00"))
            cur.execute(RAW_ORDER_SQL, (
                str(order_id), f"R{tag}{n:08d}"[:20], customer_id, visitor_id, rep_id, f"{RAW_PREFIX}{tag}-{n}",
                total, total, DELIVERY["restaurant_name"], DELIVERY["contact_name"], DELIVERY["address"],
                DELIVERY["district"], DELIVERY["latitude"], DELIVERY["longitude"],
            ))
            execute_values(
                cur,
                "INSERT INTO orders_orderline (order_id, product_id, product_code, product_name, spec, unit, "
                "unit_price, quantity, amount, catch_weight) VALUES %s",
                [(str(order_id), s.pk, "", s.name[:80], "", "", s.price, s.quantity, amount, False)
                 for s, amount in zip(skus, amounts)],
            )
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            if clock() >= measure_from:
                stats.errors[f"raw {type(exc).__name__}: {str(exc).splitlines()[0]}"] += 1
            continue
        elapsed = perf() - began
        done = clock()
        if measure_from <= done <= stop_at:
            stats.attempts += 1
            stats.latencies.append(elapsed)
    conn.close()


def run_raw_phase(*, data: BenchData, dsn: dict, round_number: int, duration: float, warmup: float) -> Phase:
    start_at = time.monotonic() + 0.3
    measure_from = start_at + warmup
    stop_at = measure_from + duration
    baskets = uniform_baskets(data, seed=1000 + round_number)
    stats = [ClientStats() for _ in data.visitors]
    run = f"{os.getpid() % 1000:03d}{round_number:02d}"
    threads = [
        threading.Thread(target=raw_client, daemon=True, kwargs=dict(
            dsn=dsn, visitor=visitor, skus_for=baskets(k), tag=f"{run}{k:02d}", start_at=start_at,
            measure_from=measure_from, stop_at=stop_at, stats=stats[k]))
        for k, visitor in enumerate(data.visitors)
    ]
    for thread in threads:
        thread.start()
    cpu = _CpuSampler(lambda: math.nan, measure_from, stop_at)
    for thread in threads:
        thread.join()
    cpu.join()
    phase = Phase(name="raw SQL", duration=duration, latencies=[x for s in stats for x in s.latencies],
                  refused=sum((s.refused for s in stats), Counter()), errors=sum((s.errors for s in stats), Counter()))
    _, phase.client_cpu, phase.machine_cpu = cpu.result
    return phase


def raw_dsn(url: str) -> dict:
    import dj_database_url

    config = dj_database_url.parse(url)
    params = {"host": config["HOST"], "port": config["PORT"], "user": config["USER"],
              "password": config["PASSWORD"], "dbname": config["NAME"]}
    return {k: v for k, v in params.items() if v}


# --------------------------------------------------------------------------------------------
# Checks.


def stock_snapshot(skus: list[Sku]) -> dict[int, tuple[Decimal, Decimal]]:
    from logistics.models import Stock

    return {pk: (on_hand, reserved) for pk, on_hand, reserved in
            Stock.objects.filter(product_id__in=[s.pk for s in skus]).values_list("product_id", "on_hand", "reserved")}


def sold_units(tag: str, skus: list[Sku]) -> dict[int, Decimal]:
    from django.db.models import Sum

    from orders.models import OrderLine

    rows = (OrderLine.objects.filter(order__idempotency_key__startswith=f"{tag}-", product_id__in=[s.pk for s in skus])
            .values_list("product_id").annotate(units=Sum("quantity")))
    return {s.pk: Decimal("0") for s in skus} | dict(rows)


def stock_accounting(tag: str, skus: list[Sku], before: dict, after: dict) -> list[dict]:
    """Per SKU: units that left available stock, units in the run's order lines, units oversold."""
    sold = sold_units(tag, skus)
    rows = []
    for sku in skus:
        (on_hand0, reserved0), (on_hand1, reserved1) = before[sku.pk], after[sku.pk]
        taken = (on_hand0 - reserved0) - (on_hand1 - reserved1)
        rows.append({
            "product_id": sku.pk, "name": sku.name, "initial_available": on_hand0 - reserved0,
            "final_available": on_hand1 - reserved1, "taken": taken, "sold": sold[sku.pk],
            "oversold": max(Decimal("0"), sold[sku.pk] - (on_hand0 - reserved0)),
            "balanced": taken == sold[sku.pk] and on_hand1 >= reserved1,
        })
    return rows


def orders_with_tag(tag: str) -> int:
    from orders.models import Order

    return Order.objects.filter(idempotency_key__startswith=f"{tag}-").count()


# --------------------------------------------------------------------------------------------
# In-process look at one checkout.


def checkout_queries(data: BenchData, *, profile: bool) -> dict:
    """SQL of one checkout (POST /api/v1/orders) and of one cart PUT, in-process, after a warm-up order."""
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    _, _, _, token = data.visitors[0]
    client = Client(HTTP_AUTHORIZATION=f"Visitor {token}")
    tag = f"preflight{os.getpid()}{int(time.time())}"
    result = {}
    for attempt in range(2):  # the second one is counted: connection set-up and first-use caches excluded
        with CaptureQueriesContext(connection) as cart_queries:
            for sku in data.pool[:3]:
                response = client.put(f"/api/v1/cart/lines/{sku.pk}", {"quantity": str(sku.quantity)},
                                      content_type="application/json")
                if response.status_code != 200:
                    sys.exit(f"bench: cart PUT failed in-process: {response.status_code} {response.content[:300]!r}")
        with CaptureQueriesContext(connection) as captured:
            response = client.post("/api/v1/orders", {"idempotency_key": f"{tag}-{attempt}", **DELIVERY},
                                   content_type="application/json")
        if response.status_code != 201 or not response.json().get("payment"):
            sys.exit(f"bench: checkout failed in-process: {response.status_code} {response.content[:500]!r}")
    with CaptureQueriesContext(connection) as lines_queries:
        response = client.post("/api/v1/orders", {"idempotency_key": f"{tag}-lines", "lines": _lines(data.pool[3:6]),
                                                  **DELIVERY}, content_type="application/json")
    if response.status_code != 201 or not response.json().get("payment"):
        sys.exit(f"bench: checkout with lines failed in-process: {response.status_code} {response.content[:500]!r}")
    if data.coupons and data.coupons[0]:  # --coupon-share: one with a coupon too (cancelled with the others)
        with CaptureQueriesContext(connection) as coupon_queries:
            response = client.post("/api/v1/orders", {"idempotency_key": f"{tag}-coupon", "lines": _lines(data.pool[3:6]),
                                                      "coupon_id": data.coupons[0][-1], **DELIVERY},
                                   content_type="application/json")
        if response.status_code != 201 or response.json()["order"]["discount"] == "0.00":
            sys.exit(f"bench: checkout with a coupon failed in-process: {response.status_code} {response.content[:500]!r}")
        result["checkout_coupon_sql"] = len(coupon_queries)
    result["checkout_cart_sql"] = len(captured)
    result["checkout_sql"] = len(lines_queries)
    result["cart_put_sql"] = len(cart_queries) // 3
    result["statements"] = [q["sql"] for q in lines_queries.captured_queries]
    result.update(_request_costs(client, data, tag))
    if profile:
        result["profile"] = _pyinstrument_profile(client, data, tag)
    connections.close_all()
    return result


def coupons_used(*, since) -> tuple[int, int, int]:
    """(orders that carried a coupon, orders, coupons still held) of the bench visitors since `since`."""
    from coupons.models import CouponRedemption
    from orders.models import Order

    orders = Order.objects.filter(visitor__openid__startswith=VISITOR_PREFIX, created_at__gte=since)
    redemptions = CouponRedemption.objects.filter(order__in=orders)
    return redemptions.count(), orders.count(), redemptions.filter(released_at__isnull=True).count()


def _lines(skus) -> list[dict]:
    return [{"product_id": sku.pk, "quantity": str(sku.quantity)} for sku in skus]


def _request_costs(client, data: BenchData, tag: str, orders: int = 20) -> dict:
    """Median CPU (this process: Django's own work) and wall time of a checkout POST carrying its lines,
    of a cart PUT and of a checkout POST of the cart, one request at a time: what each costs the server
    before any queueing."""
    costs = {"put": ([], []), "post_cart": ([], []), "post_lines": ([], [])}
    # --coupon-share: the same POST with a coupon, interleaved with the ones without, from coupons
    # the run's phases reuse (these orders are cancelled before the phases, giving them back).
    spare = list(data.coupons[0][:orders]) if data.coupons and data.coupons[0] else []
    if spare:
        costs["post_coupon"] = ([], [])

    def timed(kind, call):
        cpu, wall = time.process_time(), time.perf_counter()
        call()
        costs[kind][0].append(time.process_time() - cpu)
        costs[kind][1].append(time.perf_counter() - wall)

    for n in range(orders):
        skus = data.pool[6 + 3 * (n % 20): 9 + 3 * (n % 20)]
        timed("post_lines", lambda: client.post("/api/v1/orders", {"idempotency_key": f"{tag}-l{n}", "lines": _lines(skus),
                                                                   **DELIVERY}, content_type="application/json"))
        if n < len(spare):
            timed("post_coupon", lambda: client.post("/api/v1/orders", {
                "idempotency_key": f"{tag}-k{n}", "lines": _lines(skus), "coupon_id": spare[n], **DELIVERY},
                content_type="application/json"))
        for sku in skus:
            timed("put", lambda: client.put(f"/api/v1/cart/lines/{sku.pk}", {"quantity": str(sku.quantity)},
                                            content_type="application/json"))
        timed("post_cart", lambda: client.post("/api/v1/orders", {"idempotency_key": f"{tag}-c{n}", **DELIVERY},
                                               content_type="application/json"))
    return {f"{kind}_{what}": median(values[i]) for kind, values in costs.items()
            for i, what in enumerate(("cpu", "wall"))}


def _pyinstrument_profile(client, data: BenchData, tag: str) -> str:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "(pyinstrument is not installed: `.venv/bin/pip install pyinstrument` for a profile)"
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for n in range(50):
        client.post("/api/v1/orders", {"idempotency_key": f"{tag}-p{n}", "lines": _lines(data.pool[3 + n % 3: 6 + n % 3]),
                                       **DELIVERY}, content_type="application/json")
    profiler.stop()
    return profiler.output_text(unicode=True, color=False, show_all=False)


# --------------------------------------------------------------------------------------------
# Report.


def fmt_ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


REAL_PAY_NOTE = ("prepay: the dev WeChat Pay simulator (wechat/backends/dev: its own row, written with "
                 "synchronous_commit off, so it commits without waiting for the disk) -- except the "
                 "'real pay' row: the real backend (wechatpayv3, signed HTTPS-shaped calls) against the loopback "
                 "fake WeChat Pay of the tests (tests/wechat/fake_wechatpay.py), served from this process")


@contextlib.contextmanager
def real_pay_server(args, env: dict, workdir: Path):
    """A second gunicorn with WECHAT_BACKEND=real whose WeChat Pay is the tests' loopback fake
    (running in this process, as the tests run it), for the 'real pay' row."""
    import logging
    import re

    from pytest_httpserver import HTTPServer

    from tests.wechat.fake_wechatpay import FakeWeChatPay, make_pay_keys

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    http = HTTPServer(host=HOST, port=0, threaded=True)
    http.start()
    try:
        fake = FakeWeChatPay(server=http, keys=make_pay_keys(workdir))
        http.expect_request(re.compile(".*")).respond_with_handler(fake.dispatch)
        real_env = dict(env, WECHAT_BACKEND="real", WECHAT_APPID=fake.appid, WECHAT_SECRET="bench-only-secret",
                        WECHATPAY_API_BASE=fake.url, WECHATPAY_MCHID=fake.mchid, WECHATPAY_APIV3_KEY=fake.apiv3_key,
                        WECHATPAY_MERCHANT_KEY_PATH=str(fake.keys.merchant_key_path),
                        WECHATPAY_MERCHANT_CERT_SERIAL=fake.merchant_cert_serial,
                        WECHATPAY_PUBLIC_KEY_PATH=str(fake.keys.platform_public_key_path),
                        WECHATPAY_PUBLIC_KEY_ID=fake.public_key_id,
                        WECHATPAY_NOTIFY_URL="https://bench.invalid/wechat/pay/notify")
        with GunicornServer(wsgi_app="seafood_b2b.wsgi:application", cwd=ROOT, env=real_env, workers=args.workers,
                            threads=args.threads) as server:
            yield server, fake
    finally:
        http.clear()
        http.stop()


def main(argv=None) -> int:
    args = parse_args(argv)
    env = server_environment(args)
    env["CONN_MAX_AGE"] = "600"
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG",
                                           "SECRET_KEY", "ALLOWED_HOSTS", "LOG_LEVEL")})
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from logistics.selectors import stock_ledger_drift

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("bench: checkout is measured on PostgreSQL only (row locks are the point)")
    if not args.no_seed:
        prepare_database(args, env)
    print("Preparing visitors, stock and settings", flush=True)
    data = prepare_bench_data(args)
    analyze_seconds = analyze()
    queries = checkout_queries(data, profile=args.profile)
    cancel_leftovers()
    cpu_count = os.cpu_count() or 1
    connections.close_all()

    print()
    print(f"Data: {data.orders:,} orders with {data.lines:,} lines (seeded history), {data.customers:,} restaurants, "
          f"{data.products:,} SKUs; PostgreSQL {data.server_version}; ANALYZE took {analyze_seconds:.1f} s")
    print(f"Machine: {cpu_count} cores, Python {platform.python_version()}, {platform.platform(terse=True)}")
    print(f"Per order (in-process): checkout POST with its lines {queries['checkout_sql']} SQL statements "
          f"(transaction control included); the cart flow: {queries['cart_put_sql']} per cart PUT, "
          f"{queries['checkout_cart_sql']} for the POST"
          + (f"; with a coupon {queries['checkout_coupon_sql']}" if "checkout_coupon_sql" in queries else ""))
    print(f"Django's own CPU per request, one at a time (median of 20): checkout POST with lines "
          f"{queries['post_lines_cpu'] * 1000:.1f} ms ({queries['post_lines_wall'] * 1000:.1f} ms wall); "
          f"cart PUT {queries['put_cpu'] * 1000:.1f} ms, checkout POST of the cart {queries['post_cart_cpu'] * 1000:.1f} ms"
          + (f"; checkout POST with lines and a coupon {queries['post_coupon_cpu'] * 1000:.1f} ms "
             f"({queries['post_coupon_wall'] * 1000:.1f} ms wall), interleaved with the ones without: "
             f"{queries['post_coupon_cpu'] / queries['post_lines_cpu']:.3f}x the CPU, "
             f"{queries['post_coupon_wall'] / queries['post_lines_wall']:.3f}x the wall time"
             if "post_coupon_cpu" in queries else ""))
    flow = ("one POST /api/v1/orders with the basket's lines" if args.flow == "lines"
            else "3-5 cart PUTs then POST /api/v1/orders, timed together")
    dsn = raw_dsn(args.database_url)
    run_id = f"b{int(time.time()) % 10**8}"
    from django.utils import timezone

    run_started = timezone.now()
    rounds = []
    hot = None
    failures = []
    real_rounds = []
    coupon_rounds = []  # (raw, with coupons, without) per round, with --coupon-share
    try:
        with GunicornServer(wsgi_app="seafood_b2b.wsgi:application", cwd=ROOT, env=env, workers=args.workers,
                            threads=args.threads) as server, contextlib.ExitStack() as stack:
            real = None
            if not args.no_real_pay:
                real, fake = stack.enter_context(real_pay_server(args, env, Path(stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="bench-wechatpay-")))))
            print(f"Server: {server.describe()}; DEBUG off, persistent DB connections")
            print(f"Note: {REAL_PAY_NOTE}")
            print(f"Load: {args.clients} clients (threads), {args.warmup:g} s warm-up + {args.duration:g} s measured "
                  f"per phase, {args.repeat} round(s); each order 3-5 of {len(data.pool)} SKUs, minimum quantities; "
                  f"flow: {flow}\n", flush=True)
            if args.coupon_share:
                # Unmeasured: both variants once, so that round 1's first phase does not carry the
                # server's cold start (seen as multi-second stalls in the run's first phase).
                for share in (None, 0.0):
                    run_http_phase(name="warm-up", server=server, data=data, tag=f"{run_id}w{'n' if share == 0.0 else ''}",
                                   basket_for=uniform_baskets(data, seed=0), duration=args.warmup,
                                   warmup=args.warmup, flow=args.flow, coupon_share=share)
                    cancel_leftovers()
            for round_number in range(1, args.repeat + 1):
                vacuum_write_tables()
                raw = run_raw_phase(data=data, dsn=dsn, round_number=round_number, duration=args.duration,
                                    warmup=args.warmup)
                raw_cleanup()
                print(f"  round {round_number}/{args.repeat}  raw SQL   {raw.rate:7.1f} tx/s      "
                      f"p50 {fmt_ms(raw.p(50))} ms  p95 {fmt_ms(raw.p(95))} ms  errors {sum(raw.errors.values())}",
                      flush=True)
                # With --coupon-share, each round also runs the same phase without coupons, the two
                # back to back in alternating order (ABBA over the rounds), so the with/without ratio
                # compares neighbours in time on a machine whose load drifts.
                variants = [("coupons", None), ("no coupon", 0.0)] if args.coupon_share else [("", None)]
                if round_number % 2 == 0:
                    variants.reverse()
                for variant, share in variants:
                    tag = f"{run_id}u{round_number}{'n' if share == 0.0 else ''}"
                    vacuum_write_tables()
                    before = stock_snapshot(data.pool)
                    phase = run_http_phase(name="uniform", server=server, data=data, tag=tag,
                                           basket_for=uniform_baskets(data, seed=round_number),
                                           duration=args.duration, warmup=args.warmup, flow=args.flow,
                                           coupon_share=share)
                    accounting = stock_accounting(tag, data.pool, before, stock_snapshot(data.pool))
                    phase.oversold = sum(row["oversold"] for row in accounting)
                    phase.unbalanced = [row for row in accounting if not row["balanced"]]
                    print(f"  round {round_number}/{args.repeat}  HTTP      {phase.rate:7.1f} orders/s  "
                          f"p50 {fmt_ms(phase.p(50))} ms  p95 {fmt_ms(phase.p(95))} ms  "
                          f"p99 {fmt_ms(phase.p(99))} ms  errors {sum(phase.errors.values())}  "
                          f"ratio {phase.rate / raw.rate if raw.rate else math.nan:.3f}"
                          + (f"  [{variant}]" if variant else ""), flush=True)
                    cancel_leftovers()  # unpaid orders cancelled: their stock and coupons given back
                    if share == 0.0:
                        plain = phase
                    else:
                        uniform = phase
                rounds.append((raw, uniform))
                if args.coupon_share:
                    coupon_rounds.append((raw, uniform, plain))
                    print(f"  round {round_number}/{args.repeat}  with coupons / without: "
                          f"{uniform.rate / plain.rate if plain.rate else math.nan:.3f} (orders/s), "
                          f"p50 {uniform.p(50) / plain.p(50) if plain.latencies else math.nan:.3f}", flush=True)
                if real is not None:
                    tag = f"{run_id}r{round_number}"
                    before = stock_snapshot(data.pool)
                    paid = run_http_phase(name="uniform, real pay", server=real, data=data, tag=tag,
                                          basket_for=uniform_baskets(data, seed=round_number),
                                          duration=args.duration, warmup=args.warmup, flow=args.flow)
                    accounting = stock_accounting(tag, data.pool, before, stock_snapshot(data.pool))
                    paid.oversold = sum(row["oversold"] for row in accounting)
                    paid.unbalanced = [row for row in accounting if not row["balanced"]]
                    if fake.auth_failures:
                        paid.errors["fake WeChat Pay refused the request's signature"] += len(fake.auth_failures)
                    print(f"  round {round_number}/{args.repeat}  real pay  {paid.rate:7.1f} orders/s  "
                          f"p50 {fmt_ms(paid.p(50))} ms  p99 {fmt_ms(paid.p(99))} ms  "
                          f"errors {sum(paid.errors.values())}  ratio {paid.rate / raw.rate if raw.rate else math.nan:.3f}",
                          flush=True)
                    real_rounds.append((raw, paid))
                    cancel_leftovers()
            if not args.skip_hot:
                uniform_rate = median([u.rate for _, u in rounds])
                hot_orders = args.hot_orders or max(10, round(0.4 * uniform_rate * args.duration))
                hot_units = {sku.pk: sku.quantity * hot_orders for sku in data.hot}
                for sku in data.hot:
                    set_available(sku, hot_units[sku.pk])
                tag = f"{run_id}h"
                before = stock_snapshot(data.hot)
                hot = run_http_phase(name="hot spot", server=server, data=data, tag=tag,
                                     basket_for=lambda k: (lambda: data.hot), duration=args.duration,
                                     warmup=0.0, flow=args.flow)
                hot.accounting = stock_accounting(tag, data.hot, before, stock_snapshot(data.hot))
                hot.orders_in_db = orders_with_tag(tag)
                print(f"  hot spot: {hot.ok} orders, refused {sum(hot.refused.values())}, "
                      f"errors {sum(hot.errors.values())}", flush=True)
    finally:
        cancel_leftovers()
        raw_cleanup()
    drift = stock_ledger_drift()
    coupon_use = coupons_used(since=run_started) if args.coupon_share else None

    # ---- summary
    raw_rate = median([r.rate for r, _ in rounds])
    http_rate = median([u.rate for _, u in rounds])
    ratio = median([u.rate / r.rate if r.rate else math.nan for r, u in rounds])
    p50, p95, p99 = (median([u.p(q) for _, u in rounds]) for q in (50, 95, 99))
    errors = sum((u.errors for _, u in rounds), Counter()) + sum((r.errors for r, _ in rounds), Counter())
    refused = sum((u.refused for _, u in rounds), Counter())
    oversold = sum(u.oversold for _, u in rounds)
    title = f"Median of {args.repeat} rounds" if args.repeat > 1 else "One round"
    print(f"\n{title}, {args.clients} clients; ratio = HTTP orders/s / raw SQL tx/s in the same round; "
          f"CPU in cores (of {cpu_count})\n")
    table = [
        ["raw SQL transaction", f"{raw_rate:.1f}", fmt_ms(median([r.p(50) for r, _ in rounds])),
         fmt_ms(median([r.p(95) for r, _ in rounds])), fmt_ms(median([r.p(99) for r, _ in rounds])),
         sum(sum(r.errors.values()) for r, _ in rounds), sum(sum(r.refused.values()) for r, _ in rounds), "-",
         "1.00", "-", f"{median([r.client_cpu / r.duration for r, _ in rounds]):.2f}",
         f"{median([r.machine_cpu / r.duration for r, _ in rounds]):.2f}"],
        ["HTTP checkout (uniform)", f"{http_rate:.1f}", fmt_ms(p50), fmt_ms(p95), fmt_ms(p99),
         sum(sum(u.errors.values()) for _, u in rounds), sum(refused.values()), f"{oversold:g}", f"{ratio:.3f}",
         f"{median([u.server_cpu / u.duration for _, u in rounds]):.2f}",
         f"{median([u.client_cpu / u.duration for _, u in rounds]):.2f}",
         f"{median([u.machine_cpu / u.duration for _, u in rounds]):.2f}"],
    ]
    if coupon_rounds:
        plains = [p for _, _, p in coupon_rounds]
        table[1][0] = f"HTTP checkout (uniform), coupons on {args.coupon_share:.0%}"
        table.insert(2, ["HTTP checkout (uniform), no coupon", f"{median([p.rate for p in plains]):.1f}",
                         *(fmt_ms(median([p.p(q) for p in plains])) for q in (50, 95, 99)),
                         sum(sum(p.errors.values()) for p in plains), sum(sum(p.refused.values()) for p in plains),
                         f"{sum(p.oversold for p in plains):g}",
                         f"{median([p.rate / r.rate if r.rate else math.nan for r, _, p in coupon_rounds]):.3f}",
                         f"{median([p.server_cpu / p.duration for p in plains]):.2f}",
                         f"{median([p.client_cpu / p.duration for p in plains]):.2f}",
                         f"{median([p.machine_cpu / p.duration for p in plains]):.2f}"])
    if real_rounds:
        table.append(["HTTP checkout (uniform), real pay", f"{median([u.rate for _, u in real_rounds]):.1f}",
                      *(fmt_ms(median([u.p(q) for _, u in real_rounds])) for q in (50, 95, 99)),
                      sum(sum(u.errors.values()) for _, u in real_rounds),
                      sum(sum(u.refused.values()) for _, u in real_rounds),
                      f"{sum(u.oversold for _, u in real_rounds):g}",
                      f"{median([u.rate / r.rate if r.rate else math.nan for r, u in real_rounds]):.3f}",
                      f"{median([u.server_cpu / u.duration for _, u in real_rounds]):.2f}",
                      f"{median([u.client_cpu / u.duration for _, u in real_rounds]):.2f}",
                      f"{median([u.machine_cpu / u.duration for _, u in real_rounds]):.2f}"])
    if hot is not None:
        table.append(["HTTP checkout (hot spot)", f"{hot.rate:.1f}", fmt_ms(hot.p(50)), fmt_ms(hot.p(95)),
                      fmt_ms(hot.p(99)), sum(hot.errors.values()), sum(hot.refused.values()),
                      f"{sum(r['oversold'] for r in hot.accounting):g}", "-", f"{hot.server_cpu / hot.duration:.2f}",
                      f"{hot.client_cpu / hot.duration:.2f}", f"{hot.machine_cpu / hot.duration:.2f}"])
    print(render_table(["", "orders/s", "p50 ms", "p95 ms", "p99 ms", "errors", "refused", "oversold", "ratio",
                        "server cpu", "client cpu", "all cpu"], table))
    print(f"\nNote: {REAL_PAY_NOTE}; the fake's CPU is in 'client cpu'.")

    coupon_ratio = None
    if coupon_rounds:
        per_round = [u.rate / p.rate if p.rate else math.nan for _, u, p in coupon_rounds]
        per_round_p50 = [u.p(50) / p.p(50) if p.latencies else math.nan for _, u, p in coupon_rounds]
        per_round_cpu = [(u.server_cpu / u.ok) / (p.server_cpu / p.ok) if u.ok and p.ok else math.nan
                         for _, u, p in coupon_rounds]
        # The phase right after the raw one runs slower whichever it is (seen in every run here), so
        # a round's ratio leans on who went first. Rounds 2k-1 and 2k put each variant first once:
        # the geometric mean of their two ratios cancels the position; the median of those pairs
        # is the figure.
        pairs = [math.sqrt(a * b) for a, b in zip(per_round[0::2], per_round[1::2])]
        coupon_ratio = median(pairs) if pairs else median(per_round)
        first = [p.rate / u.rate if u.rate else math.nan for k, (_, u, p) in enumerate(coupon_rounds)
                 if k % 2 == 1] + [u.rate / p.rate if p.rate else math.nan
                                   for k, (_, u, p) in enumerate(coupon_rounds) if k % 2 == 0]
        print(f"\nWith coupons on {args.coupon_share:.0%} of the orders / without, each round's two phases back to "
              f"back, coupons first in odd rounds: orders/s per round " + ", ".join(f"{x:.3f}" for x in per_round)
              + (f"; per pair of rounds (geometric mean) " + ", ".join(f"{x:.3f}" for x in pairs) if pairs else "")
              + f" -> **{coupon_ratio:.3f}**; p50 latency per round " + ", ".join(f"{x:.3f}" for x in per_round_p50)
              + f"; server CPU per order per round " + ", ".join(f"{x:.3f}" for x in per_round_cpu)
              + f" (median {median(per_round_cpu):.3f})")
        print(f"  first phase of a round / second, whichever variant: median {median(first):.3f} (the position effect)")
        print(f"  a slowdown above 10 % would be orders/s below 0.900: {'none' if coupon_ratio >= 0.9 else 'YES'}")
        for _, _, plain in coupon_rounds:
            if plain.unbalanced:
                failures.append(f"uniform without coupons: stock accounting off for {len(plain.unbalanced)} SKUs")
            if plain.oversold:
                failures.append(f"uniform without coupons: {plain.oversold} units oversold")
        errors += sum((p.errors for _, _, p in coupon_rounds), Counter())
    if coupon_use is not None:
        print(f"\nCoupons: {coupon_use[0]} of the run's {coupon_use[1]} orders carried one "
              f"(asked: {args.coupon_share:.0%}); every one given back when the unpaid orders were cancelled: "
              f"{'yes' if coupon_use[2] == 0 else f'NO, {coupon_use[2]} still held'}")
        if coupon_use[2]:
            failures.append(f"coupons: {coupon_use[2]} still held after the run")
    if hot is not None:
        print(f"\nHot spot: {len(data.visitors)} clients buying the same {len(data.hot)} SKUs, each with stock for "
              f"{hot_orders} orders; {hot.ok} orders placed ({hot.orders_in_db} in the database), refusals: "
              + ", ".join(f"{k} {n}" for k, n in hot.refused.most_common()))
        print(render_table(
            ["SKU", "initial available", "final available", "taken", "in order lines", "oversold", "balanced"],
            [[f"#{r['product_id']} {r['name'][:18]}", f"{r['initial_available']:g}", f"{r['final_available']:g}",
              f"{r['taken']:g}", f"{r['sold']:g}", f"{r['oversold']:g}", "yes" if r["balanced"] else "NO"]
             for r in hot.accounting]))
        if hot.orders_in_db < hot.ok:
            failures.append(f"hot spot: {hot.ok} orders answered 201 but {hot.orders_in_db} are in the database")
        if any(not r["balanced"] or r["oversold"] for r in hot.accounting):
            failures.append("hot spot: stock taken differs from units sold, or units were oversold")
        if not hot.refused:
            failures.append("hot spot: no checkout was refused; raise the demand (--duration) or lower --hot-orders")
    for _, uniform in rounds + real_rounds:
        if uniform.unbalanced:
            failures.append(f"uniform: stock accounting off for {len(uniform.unbalanced)} SKUs")
    if oversold:
        failures.append(f"uniform: {oversold} units oversold")
    if drift:
        failures.append(f"stock ledger drift on {len(drift)} SKUs: {drift[:3]}")
    errors += sum((u.errors for _, u in real_rounds), Counter())
    if errors:
        failures.append("errors: " + "; ".join(f"{n} x {message}" for message, n in errors.most_common(8)))

    print("\nTargets (issue):")
    print(f"  HTTP checkout >= {TARGET_RATIO:.2f} x raw rate with 8 clients: {ratio:.3f} "
          f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}{'' if args.clients == 8 else ' (not 8 clients)'}")
    print(f"  p99 <= {TARGET_P99 * 1000:.0f} ms: {fmt_ms(p99)} ms {'met' if p99 <= TARGET_P99 else 'MISSED'}")
    if hot is not None:
        print(f"  hot spot: oversold {sum(r['oversold'] for r in hot.accounting):g} units, accounting "
              f"{'exact' if all(r['balanced'] for r in hot.accounting) else 'OFF'} for every SKU, ledger drift "
              f"{'none' if not drift else len(drift)}")
    if args.profile:
        print("\nSQL of one checkout with its lines:")
        for sql in queries["statements"]:
            print(f"  {sql[:200]}")
        print("\n" + queries.get("profile", ""))
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": {k: v for k, v in vars(args).items() if k != "database_url"},
            "raw_tx_per_s": raw_rate, "orders_per_s": http_rate, "ratio": ratio, "p50": p50, "p95": p95, "p99": p99,
            "errors": dict(errors), "refused": dict(refused), "oversold": float(oversold),
            "hot": None if hot is None else {"orders": hot.ok, "refused": dict(hot.refused),
                                             "accounting": hot.accounting},
            "checkout_sql": queries["checkout_sql"], "flow": args.flow, "failures": failures,
            "coupons": None if not coupon_rounds else {
                "share": args.coupon_share, "with_over_without": coupon_ratio, "per_round": per_round,
                "rounds": [{"with": u.rate, "without": p.rate, "raw": r.rate, "with_p50": u.p(50),
                            "without_p50": p.p(50)} for r, u, p in coupon_rounds]},
        }, ensure_ascii=False, indent=2, default=str))
    if args.results:
        from bench._results import write_results

        rows = [{"row": f"HTTP checkout ({args.flow}{', price list' if args.price_list else ''})", "ratio": ratio,
                 "figures": f"{http_rate:.1f} orders/s, p50 {fmt_ms(p50)} ms, p99 {fmt_ms(p99)} ms; prepay: dev simulator"}]
        if real_rounds:
            rows.append({"row": "HTTP checkout, real pay backend vs loopback fake",
                         "ratio": median([u.rate / r.rate if r.rate else math.nan for r, u in real_rounds]),
                         "figures": f"{median([u.rate for _, u in real_rounds]):.1f} orders/s, "
                                    f"p99 {fmt_ms(median([u.p(99) for _, u in real_rounds]))} ms"})
        write_results(args.results, bench="checkout", baseline=f"raw SQL transaction, {raw_rate:.1f} tx/s", rows=rows,
                      notes=[REAL_PAY_NOTE] + (["FAILED: " + "; ".join(failures)] if failures else []))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
