#!/usr/bin/env python
"""Lost-item benchmark: the nightly lost-item sweep (usuals.lost) against a raw SQL aggregate of the
same rule, on the churn benchmark's customers and orders with order lines added.

    .venv/bin/python bench/lost_items.py [--customers 500000] [--orders-per-customer 20] [--reuse]

Builds the data set in its own PostgreSQL database (default `seafood_bench_lost`) with
bench/churn_sweep.py's generator (500,000 customers, ~10M paid orders by default: the same
segments and rhythms), then, set-based, `--products` products and 1-4 order lines per order drawn
from each customer's ten habitual products; one customer in 20 stopped buying one of them 40 days
before the night measured (those are the lost items to find), and ANALYZEs. Then, in the same run:

  (a) the raw aggregate: one hand-written SELECT of the rule (order lines of the 90-day window
      joined to their orders, grouped by customer and product, HAVING count >= N, joined to the
      customer, the silence compared with K x the interval), rows fetched and discarded;
  (b) usuals.lost.lost_items_sweep(now=NIGHT) from a clean night (tonight's alerts and their inbox
      lines deleted before each round): time, SQL statements, ru_maxrss delta;
  (c) the same sweep again (a retried task), which must find nothing;

and prints sweep / aggregate (target <= 2x). Finally one untimed round under tracemalloc: the
sweep's peak Python memory, which does not grow with the data (flat: on PostgreSQL nothing is read
into Python, the alerts and their inbox lines are written by INSERT … SELECT).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import churn_sweep  # noqa: E402
from bench.churn_sweep import NIGHT, QueryCounter, sql, step  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seafood_bench_lost"
META_TABLE = "bench_lost_meta"
HABITS = 10  # products each customer buys from
STOPPED_DAYS = 40  # a lost item's last purchase, before NIGHT


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=500_000, help="customers (default 500,000)")
    parser.add_argument("--orders-per-customer", type=float, default=20.0, help="mean paid orders (default 20)")
    parser.add_argument("--products", type=int, default=3000, help="products (default 3,000)")
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; medians reported")
    parser.add_argument("--reuse", action="store_true", help="keep the data set if one of the same size is there")
    parser.add_argument("--no-seed", action="store_true",
                        help="generate nothing: measure the database as it is, e.g. one seeded by "
                             "`seed_demo --bulk --scale 100` (the night measured is the moment it was seeded)")
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LOST_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"))
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.customers < 1000 or args.products < HABITS or args.repeat < 1:
        parser.error("--customers >= 1000, --products >= 10, --repeat >= 1")
    # What churn_sweep's generator reads.
    args.nearby_customers = min(5000, args.customers // 2)
    return args


def wanted(args) -> dict:
    return {"customers": args.customers, "orders_per_customer": args.orders_per_customer, "products": args.products,
            "reps": args.reps, "seed": args.seed, "night": NIGHT.isoformat(), "version": 1}


def stored() -> dict | None:
    if not sql("SELECT to_regclass(%s) IS NOT NULL", [META_TABLE], fetch=True)[0][0]:
        return None
    rows = sql(f"SELECT value FROM {META_TABLE} WHERE key = 'params'", fetch=True)
    return json.loads(rows[0][0]) if rows else None


def generate(args) -> dict:
    timings = churn_sweep.generate(args)
    from catalog.models import Category, Product

    sql(f"DROP TABLE IF EXISTS {META_TABLE}")
    with step(f"products ({args.products:,})") as s:
        sql("TRUNCATE catalog_product, catalog_category RESTART IDENTITY CASCADE")
        aisle = Category.objects.create(name="压测冻品", sort_order=1)
        shelf = Category.objects.create(name="压测虾类", parent=aisle, sort_order=1)
        Product.objects.bulk_create(
            (Product(code=f"BL{i:06d}", name=f"压测商品{i}", category=shelf, spec="1kg/袋", unit=Product.Unit.BAG,
                     price=10 + i % 90, min_quantity=1, step_quantity=1) for i in range(1, args.products + 1)),
            batch_size=5000)
    timings["products"] = s.seconds
    # Lines: each paid order 1-4 distinct products of the customer's ten (its habits); one customer
    # in 20 stopped buying its first habit STOPPED_DAYS before the night.
    with step("order lines (set-based, indexes rebuilt after)") as s:
        sql("ALTER TABLE orders_orderline DROP CONSTRAINT IF EXISTS orderline_unique_product")
        sql("DROP INDEX IF EXISTS orders_orderline_product_id_a68772b6")
        sql("SET work_mem = '256MB'")
        sql("SET session_replication_role = replica")
        try:
            sql("SELECT setseed(%s)", [args.seed])
            sql("""
                INSERT INTO orders_orderline (order_id, product_id, product_code, product_name, spec, unit,
                    unit_price, quantity, amount, catch_weight, price_list_name)
                SELECT o.id, h.pid, 'BL' || lpad(h.pid::text, 6, '0'), '压测商品' || h.pid, '1kg/袋', 'bag',
                       10 + h.pid %% 90, 2, 2 * (10 + h.pid %% 90), false, ''
                FROM orders_order o
                CROSS JOIN LATERAL (
                    SELECT DISTINCT 1 + (o.customer_id * 7 + floor(random() * %(habits)s)::int
                                         + 0 * g) %% %(products)s AS pid
                    FROM generate_series(1, 1 + (random() * 3)::int + 0 * length(o.number)) g
                ) h
                WHERE o.paid_at IS NOT NULL
                  AND NOT (o.customer_id %% 20 = 0 AND h.pid = 1 + (o.customer_id * 7) %% %(products)s
                           AND o.paid_at > %(stopped)s)""",
                {"habits": HABITS, "products": args.products, "stopped": NIGHT - timedelta(days=STOPPED_DAYS)})
        finally:
            sql("SET session_replication_role = DEFAULT")
            sql("RESET work_mem")
        sql("ALTER TABLE orders_orderline ADD CONSTRAINT orderline_unique_product UNIQUE (order_id, product_id)")
        sql("CREATE INDEX orders_orderline_product_id_a68772b6 ON orders_orderline (product_id)")
        sql("VACUUM (ANALYZE) orders_orderline")
    timings["lines"] = s.seconds
    sql(f"CREATE TABLE {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
    sql(f"INSERT INTO {META_TABLE} VALUES ('params', %s), ('timings', %s)", [json.dumps(wanted(args)),
                                                                             json.dumps(timings)])
    return timings


RAW_AGGREGATE = """
    SELECT b.customer_id, b.product_id
    FROM (SELECT o.customer_id, l.product_id, count(*) AS n, min(o.paid_at) AS first, max(o.paid_at) AS last
          FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
          WHERE o.paid_at >= %(since)s AND o.paid_at <= %(now)s AND o.status <> 'cancelled'
          GROUP BY o.customer_id, l.product_id HAVING count(*) >= %(n)s) b
    JOIN customers_customer c ON c.id = b.customer_id
    WHERE c.last_order_at > b.last AND c.last_order_at >= %(active)s
      AND %(now)s - b.last > greatest(%(k)s * (b.last - b.first) / (b.n - 1), %(quiet)s * interval '1 day')
"""


def measure_aggregate(rules) -> tuple[float, int]:
    from django.db import connection, transaction

    params = {"since": NIGHT - timedelta(days=rules.window_days), "now": NIGHT, "n": rules.min_times,
              "active": NIGHT - timedelta(days=rules.churn_days), "k": rules.tenths / 10,
              "quiet": rules.min_silence.days}
    started = time.perf_counter()
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_AGGREGATE, params)
        while batch := cursor.fetchmany(10_000):
            rows += len(batch)
    return time.perf_counter() - started, rows


def reset_night() -> None:
    sql("DELETE FROM usuals_lostitemalert")
    sql("DELETE FROM notifications_notification WHERE template = 'lost_item'")
    sql("VACUUM usuals_lostitemalert")
    sql("VACUUM notifications_notification")


def measure_sweep() -> dict:
    from django.db import connection

    from usuals.lost import lost_items_sweep

    counter = QueryCounter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = lost_items_sweep(now=NIGHT)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "queries": counter.count, "alerts": result.new_alerts, "reps": result.notified_reps,
            "outbox_sql_seconds": counter.notify_seconds, "other_sql_seconds": counter.other_seconds,
            "maxrss_delta_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024}


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"Lost-item benchmark on {args.database_url.rsplit('@', 1)[-1]}", flush=True)
    churn_sweep.setup_django(args)
    from usuals.lost import LostRules

    if args.no_seed:
        night = churn_sweep.use_seeded_night(sys.modules[__name__])
        print(f"Measuring the database as it is (--no-seed), night {night.isoformat()}.", flush=True)
    elif args.reuse and stored() == wanted(args):
        print("Reusing the data set already there (--reuse).", flush=True)
    else:
        print(f"Generating {args.customers:,} customers, ~{args.customers * args.orders_per_customer:,.0f} paid "
              "orders and their lines:", flush=True)
        generate(args)
    rules = LostRules.current()
    sizes = dict(sql("SELECT relname, reltuples::bigint FROM pg_class WHERE relname IN "
                     "('orders_order', 'orders_orderline', 'customers_customer')", fetch=True))
    window = sql("SELECT count(*) FROM orders_order WHERE paid_at >= %s AND paid_at <= %s",
                 [NIGHT - timedelta(days=rules.window_days), NIGHT], fetch=True)[0][0]
    print(f"\nData: {sizes.get('customers_customer', 0):,} customers, {sizes.get('orders_order', 0):,} orders, "
          f"{sizes.get('orders_orderline', 0):,} order lines (estimates); {window:,} paid orders in the "
          f"{rules.window_days}-day window. Rule: >= {rules.min_times} times, > {rules.tenths / 10:g}x the "
          f"interval and > {rules.min_silence.days} days, ordering within {rules.churn_days} days.")
    rounds = []
    for number in range(1, args.repeat + 1):
        reset_night()
        agg_seconds, agg_rows = measure_aggregate(rules)
        sweep = measure_sweep()
        rerun = measure_sweep()
        if rerun["alerts"]:
            print(f"ERROR: the rerun found {rerun['alerts']} alerts")
            return 1
        if sweep["alerts"] != agg_rows:
            print(f"ERROR: the sweep found {sweep['alerts']} alerts, the raw aggregate {agg_rows} rows")
            return 1
        ratio = sweep["seconds"] / agg_seconds
        rounds.append({"aggregate_seconds": agg_seconds, "rows": agg_rows, "sweep": sweep, "rerun": rerun,
                       "ratio": ratio})
        print(f"  round {number}: aggregate {agg_seconds:.2f} s ({agg_rows:,} rows) | sweep {sweep['seconds']:.2f} s, "
              f"{sweep['queries']} statements, {sweep['alerts']:,} alerts for {sweep['reps']:,} reps (outbox SQL "
              f"{sweep['outbox_sql_seconds']:.2f} s, other SQL {sweep['other_sql_seconds']:.2f} s), maxrss "
              f"+{sweep['maxrss_delta_mb']:.0f} MiB | rerun {rerun['seconds']:.2f} s | ratio {ratio:.2f}x", flush=True)
    reset_night()
    from usuals.lost import lost_items_sweep

    tracemalloc.start()
    try:
        found = lost_items_sweep(now=NIGHT).new_alerts
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reset_night()
    med = {"aggregate_seconds": statistics.median(r["aggregate_seconds"] for r in rounds),
           "sweep_seconds": statistics.median(r["sweep"]["seconds"] for r in rounds),
           "rerun_seconds": statistics.median(r["rerun"]["seconds"] for r in rounds),
           "ratio": statistics.median(r["ratio"] for r in rounds)}
    print(f"\nMedians: aggregate {med['aggregate_seconds']:.2f} s, sweep {med['sweep_seconds']:.2f} s, rerun "
          f"{med['rerun_seconds']:.2f} s; sweep / aggregate = {med['ratio']:.2f}x (target <= 2.00x: "
          f"{'met' if med['ratio'] <= 2 else 'NOT met'})")
    print(f"Sweep peak Python memory (tracemalloc, untimed round, {found:,} alerts): {peak / 2**20:.1f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({"params": wanted(args), "rounds": rounds, "medians": med,
                                               "tracemalloc_peak_mb": peak / 2**20}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
