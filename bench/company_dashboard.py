#!/usr/bin/env python
"""Company dashboard benchmark: every figure of admin › 公司经营看板 (dashboard.selectors) for 30 and
366 Shanghai days, against a raw SQL aggregate over the same orders.

    .venv/bin/python bench/company_dashboard.py [--customers 50000] [--orders-per-customer 20] [--reuse]

Builds its data set in its own PostgreSQL database (default `bench_h3_dashboard`) with
bench/lost_items.py's generator (bench/churn_sweep.py's customers and paid orders, then products
and 1-4 lines per order) and adds a refund to one paid order in 30 (one in three of them failed),
then ANALYZEs. In the same run, each range:

  (a) the baseline: one hand-written SELECT of paid orders per Shanghai day, count and sum of
      totals (gross: no refunds), rows fetched;
  (b) dashboard.selectors.company_dashboard(period): every figure of the page (GMV net of refunds
      per day, months, new/churned/reactivated, reps, categories, SKUs): time and statements;

and prints (b) / (a). The statements must be the same number for both ranges (the test suite
checks it too, tests/dashboard/); the time grows with the orders read, as the baseline's does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import churn_sweep, lost_items  # noqa: E402
from bench.churn_sweep import NIGHT, sql, step  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_h3_dashboard"
LAST_DAY = NIGHT.date() - timedelta(days=1)

BASELINE = """
    SELECT (paid_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*), sum(total)
      FROM orders_order
     WHERE paid_at >= %(start)s AND paid_at < %(end)s
     GROUP BY 1
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000, help="customers (default 50,000: ~1M orders)")
    parser.add_argument("--orders-per-customer", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; medians reported")
    parser.add_argument("--reuse", action="store_true", help="keep the data set if one of the same size is there")
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DASHBOARD_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"))
    args = parser.parse_args(argv)
    args.nearby_customers = min(5000, args.customers // 2)
    return args


def add_refunds() -> int:
    with step("refunds (one paid order in 30)"):
        sql("""INSERT INTO orders_refund (order_id, out_refund_no, amount, reason, status, refund_id, last_error,
                                          created_at, updated_at)
               SELECT id, number || 'R1', round(total / 3, 2), '压测', CASE WHEN hashtext(number || 'status') % 3 = 0
                      THEN 'failed' ELSE 'succeeded' END, '', '', paid_at, paid_at
                 FROM orders_order WHERE paid_at IS NOT NULL AND hashtext(number) % 30 = 0 AND total > 0
               ON CONFLICT DO NOTHING""")
        sql("ANALYZE orders_refund")
    return sql("SELECT count(*) FROM orders_refund", fetch=True)[0][0]


def measure(period) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from dashboard.selectors import company_dashboard

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BASELINE, {"start": period.start, "end": period.end})
        rows = cursor.fetchall()
    baseline = time.perf_counter() - started
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        figures = company_dashboard(period)
        seconds = time.perf_counter() - started
    gross = sum(row[2] or 0 for row in rows)
    return {"baseline": baseline, "seconds": seconds, "queries": len(captured), "orders": sum(r[1] for r in rows),
            "gross": gross, "gmv": figures["totals"]["gmv"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"Company dashboard benchmark on {args.database_url.rsplit('@', 1)[-1]}", flush=True)
    churn_sweep.setup_django(args)
    from dashboard.selectors import Period

    have = lost_items.stored()
    if args.reuse and have == lost_items.wanted(args):
        print("Reusing the data set already there (--reuse).", flush=True)
    else:
        print(f"Generating {args.customers:,} customers and ~{args.customers * args.orders_per_customer:,.0f} "
              "paid orders with lines:", flush=True)
        lost_items.generate(args)
    refunds = add_refunds()
    paid = sql("SELECT count(*) FROM orders_order WHERE paid_at IS NOT NULL", fetch=True)[0][0]
    print(f"Data: {paid:,} paid orders, {refunds:,} refunds; ranges end {LAST_DAY}.", flush=True)
    status = 0
    counts = {}
    for days in (30, 366):
        period = Period(first=LAST_DAY - timedelta(days=days - 1), last=LAST_DAY)
        measure(period)  # warm the cache: both sides then read from memory
        rounds = [measure(period) for _ in range(args.repeat)]
        base = statistics.median(r["baseline"] for r in rounds)
        dash = statistics.median(r["seconds"] for r in rounds)
        first = rounds[0]
        counts[days] = first["queries"]
        print(f"  {days:>3} days: {first['orders']:,} paid orders | baseline (count, gross sum per day) "
              f"{base * 1000:.0f} ms | dashboard {dash * 1000:.0f} ms in {first['queries']} statements "
              f"| ratio {dash / base:.1f}x | GMV {first['gmv']} (gross {first['gross']})", flush=True)
    if counts[30] != counts[366]:
        print(f"ERROR: {counts[30]} statements for 30 days, {counts[366]} for 366")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
