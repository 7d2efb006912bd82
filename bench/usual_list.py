#!/usr/bin/env python
"""我的常购 benchmark: GET /api/v1/usuals for a restaurant with a long history and a price list,
under gunicorn, against the trivial one-query view (/healthz) in the same run.

    .venv/bin/python bench/usual_list.py [--products 50] [--orders 60] [--duration 8] [--repeat 1]

Builds (once; reused when present) in its own database (seafood_bench_usuals) a restaurant with a
WeChat visitor, a price list (fixed prices and a category percentage), `--orders` paid orders over
the 90-day window with ~15 of `--products` products each (so the list is full: 50 lines by default,
the settings' maximum), a pinned and a hidden product, and thousands of other restaurants' orders
in the same tables. Then measures GET /healthz (baseline) and GET /api/v1/usuals with the visitor's
token, prints req/s, p50/p95/p99, SQL per request (target ≤ 3) and the ratio to the baseline
(target ≥ 0.5). With --repeat N every figure is the median of N rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import uuid
import warnings
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench._http_load import (  # noqa: E402
    GunicornServer,
    LoadGenerator,
    measure_rounds,
    median_over_rounds,
    median_ratio,
    queries_per_request,
    render_table,
)
from bench.catalog import ensure_database, redact, run_manage  # noqa: E402

OPENID = "oBENCHUSUALS000000000000000000"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_USUALS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/seafood_bench_usuals"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--products", type=int, default=50, help="products the restaurant buys (default 50)")
    parser.add_argument("--orders", type=int, default=60, help="its paid orders in the window (default 60)")
    parser.add_argument("--others", type=int, default=2000, help="other restaurants, 10 orders each (default 2,000)")
    parser.add_argument("--no-seed", action="store_true",
                        help="add nothing: measure the restaurant with the most paid orders of the database as it is "
                             "(e.g. one seeded by `seed_demo --bulk --scale 100`)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="rounds over both endpoints; medians reported")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.products < 2 or args.orders < 1:
        parser.error("--repeat >= 1, --products >= 2, --orders >= 1")
    return args


def environment(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="seafood_b2b.settings", DATABASE_URL=args.database_url,
               REDIS_URL=args.redis_url, DEBUG="0", SECRET_KEY="bench-only-secret-not-for-production-0123456789",
               ALLOWED_HOSTS="127.0.0.1,localhost,testserver", LOG_LEVEL="WARNING",
               PYTHONWARNINGS="ignore:No directory at")
    return env


def _orders_for(customer, visitor, products, count, rng, now, prefix):
    from orders.models import Order, OrderLine

    orders, lines = [], []
    for n in range(count):
        paid = now - timedelta(minutes=rng.randint(60, 89 * 24 * 60))
        order = Order(number=f"{prefix}{customer.pk:07d}{n:05d}"[:20], customer=customer, visitor=visitor,
                      status="completed", idempotency_key=uuid.uuid4().hex, delivery_date=paid.date(),
                      subtotal=Decimal("100"), total=Decimal("100"), restaurant_name=customer.name,
                      contact_name="老板", phone=customer.phone, address="深圳市压测路 1 号", expires_at=paid,
                      paid_at=paid)
        orders.append(order)
        for product in rng.sample(products, min(15, len(products))):
            quantity = Decimal(rng.choice([2, 3, 4, 5]))
            lines.append(OrderLine(order=order, product=product, product_code=product.code,
                                   product_name=product.name, unit=product.unit, unit_price=product.price,
                                   quantity=quantity, amount=product.price * quantity))
    return orders, lines


def build_data(args):
    """The restaurant and the crowd around it; skipped when already there."""
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Category, PriceList, PriceListEntry, Product
    from customers.models import Customer, Visitor
    from logistics.models import Stock
    from orders.models import Order, OrderLine
    from usuals.models import UsualMark, UsualSettings

    visitor = Visitor.objects.filter(openid=OPENID).select_related("customer").first()
    if visitor is not None:
        return visitor
    rng = random.Random(11)
    now = timezone.now()
    with transaction.atomic():
        UsualSettings.current()
        aisle = Category.objects.create(name="压测冻品", sort_order=1)
        shelf = Category.objects.create(name="压测虾类", parent=aisle, sort_order=1)
        products = Product.objects.bulk_create(
            Product(code=f"BU{i:05d}", name=f"压测商品{i}", category=shelf, spec="1kg/袋", unit=Product.Unit.BAG,
                    price=Decimal(rng.randint(10, 200)), min_quantity=Decimal("1"), step_quantity=Decimal("1"))
            for i in range(max(args.products, 200)))
        Stock.objects.bulk_create(Stock(product=p, on_hand=Decimal("1000")) for p in products)
        price_list = PriceList.objects.create(name="大客户价")
        PriceListEntry.objects.bulk_create(
            [PriceListEntry(price_list=price_list, product=p, price=p.price - 1) for p in products[:20]]
            + [PriceListEntry(price_list=price_list, category=shelf, percent_off=Decimal("5"))])
        customer = Customer.objects.create(name="压测火锅城", phone="13900000000", own_price_list=price_list,
                                           price_list=price_list)
        visitor = Visitor.objects.create(openid=OPENID, customer=customer, phone=customer.phone)
        mine = products[:args.products]
        orders, lines = _orders_for(customer, visitor, mine, args.orders, rng, now, "BU")
        UsualMark.objects.create(customer=customer, product=mine[0], state=UsualMark.State.PINNED)
        UsualMark.objects.create(customer=customer, product=mine[1], state=UsualMark.State.HIDDEN)
        others = Customer.objects.bulk_create(Customer(name=f"压测餐厅{i}", phone=f"138{i:08d}")
                                              for i in range(args.others))
        other_visitors = Visitor.objects.bulk_create(Visitor(openid=f"obenchu{c.pk:023d}", customer=c) for c in others)
        for other, other_visitor in zip(others, other_visitors):
            more_orders, more_lines = _orders_for(other, other_visitor, products, 10, rng, now, "BO")
            orders += more_orders
            lines += more_lines
        Order.objects.bulk_create(orders, batch_size=2000)
        OrderLine.objects.bulk_create(lines, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return visitor


def main(argv=None) -> int:
    args = parse_args(argv)
    env = environment(args)
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG",
                                           "SECRET_KEY", "ALLOWED_HOSTS", "LOG_LEVEL")})
    warnings.filterwarnings("ignore", message="No directory at")
    print(f"Preparing {redact(args.database_url)}: migrate, one restaurant with {args.orders} orders of "
          f"{args.products} products and {args.others:,} others", flush=True)
    ensure_database(args.database_url)
    run_manage(env, "migrate", "--noinput")
    import django

    django.setup()
    from customers.tokens import visitor_token_make

    if args.no_seed:
        from customers.models import Visitor

        visitor = (Visitor.objects.filter(customer__isnull=False).select_related("customer")
                   .order_by("-customer__paid_order_count", "pk").first())
        print(f"  --no-seed: {visitor.customer.name} with {visitor.customer.paid_order_count} paid orders", flush=True)
    else:
        visitor = build_data(args)
    headers = {"Authorization": f"Visitor {visitor_token_make(visitor.pk)}"}
    endpoints = [("healthz (baseline)", "/healthz"), ("usual list /api/v1/usuals", "/api/v1/usuals")]
    sql = queries_per_request([path for _, path in endpoints], headers=headers)
    for name, path in endpoints:
        if sql[path][0] != 200:
            print(f"bench: {name} answered HTTP {sql[path][0]} in-process", file=sys.stderr)
            return 1
    with GunicornServer(wsgi_app="seafood_b2b.wsgi:application", cwd=ROOT, env=env, workers=args.workers,
                        threads=args.threads) as server, LoadGenerator(clients=args.clients) as load:
        print(f"Server: {server.describe()}; {args.clients} keep-alive clients, {args.warmup:g} s warm-up + "
              f"{args.duration:g} s per endpoint, {args.repeat} round(s)", flush=True)
        rounds = measure_rounds(load, server, [(name, [path], headers) for name, path in endpoints],
                                repeat=args.repeat, duration=args.duration, warmup=args.warmup)
    failed = any(measured[name].error_count for measured in rounds for name, _ in endpoints)
    baseline = endpoints[0][0]

    def ratio(name):
        return median_ratio(rounds, name, baseline)

    def ms(name, q):
        return f"{median_over_rounds(rounds, name, lambda m: m.percentile(q)) * 1000:.1f}"

    rows = [[name, sql[path][1], f"{median_over_rounds(rounds, name, lambda m: m.rps):.1f}", ms(name, 50),
             ms(name, 95), ms(name, 99), sum(measured[name].error_count for measured in rounds), f"{ratio(name):.2f}"]
            for name, path in endpoints]
    print()
    print("Median of %d rounds" % args.repeat if args.repeat > 1 else "One round")
    print(render_table(["endpoint", "SQL/req", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "vs baseline"], rows))
    usual = endpoints[1]
    print(f"\nUsual list: {sql[usual[1]][1]} SQL statements (target ≤ 3: {'met' if sql[usual[1]][1] <= 3 else 'NOT met'}), "
          f"{ratio(usual[0]):.2f}× the baseline's rate (target ≥ 0.50: {'met' if ratio(usual[0]) >= 0.5 else 'NOT met'}).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
