#!/usr/bin/env python
"""Customer-operations benchmark: the nightly automatic tags against the raw SQL aggregate of the
same rules, and segment counts, on 500,000 customers and ~10M paid orders (with ~20M lines).

    .venv/bin/python bench/crm_segments.py [--customers 500000] [--orders-per-customer 20] [--reuse]

Data: bench/churn_sweep.py's generator (customers with their rhythm, orders spread over time, a
fifth of the customers with a cancelled order) in this benchmark's own database (default
`seafood_bench_crm`), then, set-based: 5 aisles of 2 shelves and 200 products; two lines per
order (60 % of the total on a product of the customer's favourite aisle, 40 % on another aisle);
a 业态 and a 规模 tag on every customer; three category-share rules (买虾 ≥ 30 %, 买鱼 ≥ 30 %,
火锅料 ≥ 20 %) and the six RFM tags. Then, in each round:

  (a) the raw aggregate: crm.autotags.auto_tags_wanted_sql run as a plain SELECT (rows fetched and
      discarded) — the rules' own SQL, nothing written;
  (b) crm.autotags.auto_tags_recompute from no automatic tags (the first night: every row written)
      and (c) again the same night (a rerun: nothing changes);
  (d) segment_count for a handful of segments (tags AND/OR, with a rep, a district, a distance, a
      spend range, a bought category, a not-bought category), each timed.

Prints (b)/(a) (target <= 2x), the segment counts' times (target <= 1 s each), statements and
memory (ru_maxrss delta; tracemalloc peak in an extra, untimed run). See bench/README.md.
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
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import churn_sweep as churn  # noqa: E402 - the generator this benchmark reuses

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seafood_bench_crm"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"
META_TABLE = "bench_crm_meta"
NOW = churn.NIGHT + timedelta(minutes=30)  # the nightly run, after the churn sweep
AISLES = ("冻虾类", "冻鱼类", "贝类", "蟹类", "丸滑类/火锅料")
PRODUCTS_PER_SHELF = 20


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--orders-per-customer", type=float, default=20.0)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--reuse", action="store_true", help="keep the data set if one of the same size is there")
    parser.add_argument("--no-seed", action="store_true",
                        help="generate nothing: measure the database as it is, e.g. one seeded by "
                             "`seed_demo --bulk --scale 100` (the nightly run is timed 30 minutes after it was seeded)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; medians reported")
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CRM_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.customers < 1000 or args.repeat < 1:
        parser.error("--customers >= 1000, --repeat >= 1")
    return args


def sql(statement, params=None, *, fetch=False):
    return churn.sql(statement, params, fetch=fetch)


def wanted_params(args) -> dict:
    return {"customers": args.customers, "orders_per_customer": args.orders_per_customer, "reps": args.reps,
            "seed": args.seed, "version": 1}


def stored_params():
    if not sql("SELECT to_regclass(%s) IS NOT NULL", [META_TABLE], fetch=True)[0][0]:
        return None
    rows = sql(f"SELECT value FROM {META_TABLE} WHERE key = 'params'", fetch=True)
    return json.loads(rows[0][0]) if rows else None


def generate(args) -> dict:
    from catalog.models import Category, Product
    from crm.models import AutoTagSettings, CategoryShareRule, RfmSegment, Tag, TagGroup

    churn_args = churn.parse_args(["--customers", str(args.customers), "--orders-per-customer",
                                   str(args.orders_per_customer), "--reps", str(args.reps), "--seed", str(args.seed)])
    sql(f"DROP TABLE IF EXISTS {META_TABLE}")
    timings = churn.generate(churn_args)

    with churn.step("catalogue and rules") as s:
        sql("TRUNCATE crm_customertag, crm_categorysharerule, crm_segment_tags, crm_segment_reps, crm_segment, "
            "crm_tag, crm_taggroup, orders_orderline, catalog_cartline, catalog_product, catalog_category "
            "RESTART IDENTITY CASCADE")
        products = []
        aisles = []
        for a, name in enumerate(AISLES):
            aisle = Category.objects.create(name=name, sort_order=a)
            aisles.append(aisle)
            for s_index in range(2):
                shelf = Category.objects.create(name=f"{name}{s_index + 1}", parent=aisle, sort_order=s_index)
                products += [Product(code=f"BC{a}{s_index}{i:03d}", name=f"{name}商品{i}", category=shelf,
                                     price=Decimal("30.00")) for i in range(PRODUCTS_PER_SHELF)]
        Product.objects.bulk_create(products)
        business = TagGroup.objects.create(name="业态", sort_order=1)
        size = TagGroup.objects.create(name="规模", sort_order=2)
        for i, name in enumerate(("火锅", "烧烤", "奶茶", "酒楼", "快餐")):
            Tag.objects.create(group=business, name=name, sort_order=i)
        for i, name in enumerate(("大", "中", "小")):
            Tag.objects.create(group=size, name=name, sort_order=i)
        preference = TagGroup.objects.create(name="购买偏好", kind=TagGroup.Kind.AUTO, sort_order=3)
        for name, aisle, threshold in (("买虾", 0, "30"), ("买鱼", 1, "30"), ("火锅料", 4, "20")):
            CategoryShareRule.objects.create(category=aisles[aisle], threshold_percent=Decimal(threshold),
                                             tag=Tag.objects.create(group=preference, name=name))
        rfm = TagGroup.objects.create(name="RFM 分层", kind=TagGroup.Kind.AUTO, sort_order=4)
        for i, segment in enumerate(RfmSegment):
            Tag.objects.create(group=rfm, name=segment.label, rfm_segment=segment, sort_order=i)
        AutoTagSettings.current()
    timings["catalogue"] = s.seconds

    first_product = Product.objects.order_by("pk").values_list("pk", flat=True).first()
    per_aisle = 2 * PRODUCTS_PER_SHELF
    with churn.step("order lines (two per order, set-based)") as s:
        sql("SET work_mem = '256MB'")
        sql("SELECT setseed(%s)", [args.seed])
        sql("""
            INSERT INTO orders_orderline (order_id, product_id, product_code, product_name, spec, unit, unit_price,
                                          price_list_name, quantity, amount, catch_weight)
            SELECT o.id, p.id, p.code, p.name, '', p.unit, x.amount, '', 1, x.amount, false
            FROM orders_order o
            CROSS JOIN LATERAL (SELECT o.customer_id %% 5 AS fav, round(o.total * 0.6, 2) AS first) f
            CROSS JOIN LATERAL (VALUES
                (%(p0)s + f.fav * %(per)s + floor(random() * %(per)s)::int, f.first),
                (%(p0)s + ((f.fav + 1 + floor(random() * 4)::int) %% 5) * %(per)s + floor(random() * %(per)s)::int,
                 o.total - f.first)) AS x(product_id, amount)
            JOIN catalog_product p ON p.id = x.product_id""", {"p0": first_product, "per": per_aisle})
        sql("RESET work_mem")
    timings["lines"] = s.seconds

    with churn.step("manual tags (业态, 规模) on every customer") as s:
        sql("""
            INSERT INTO crm_customertag (customer_id, tag_id, source, created_at)
            SELECT c.id, t.id, 'manual', now() FROM customers_customer c
            JOIN crm_taggroup g ON g.name IN ('业态', '规模')
            JOIN crm_tag t ON t.group_id = g.id
                AND t.sort_order = c.id %% (CASE WHEN g.name = '业态' THEN 5 ELSE 3 END)""", {})
    timings["manual_tags"] = s.seconds

    with churn.step("VACUUM ANALYZE") as s:
        for table in ("orders_orderline", "orders_order", "crm_customertag", "customers_customer", "catalog_product",
                      "catalog_category"):
            sql(f"VACUUM (ANALYZE) {table}")
    timings["analyze"] = s.seconds
    sql(f"CREATE TABLE {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
    sql(f"INSERT INTO {META_TABLE} VALUES ('params', %s), ('timings', %s)",
        [json.dumps(wanted_params(args)), json.dumps(timings)])
    return timings


class Counter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql_text, params, many, context):
        self.count += 1
        return execute(sql_text, params, many, context)


def measure_raw() -> tuple[float, int]:
    from django.db import connection, transaction

    from crm.autotags import auto_tags_wanted_sql
    from crm.models import AutoTagSettings

    started = time.perf_counter()
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        statement, params = auto_tags_wanted_sql(now=NOW, rules=AutoTagSettings.current())
        cursor.execute(statement, params)
        while batch := cursor.fetchmany(10_000):
            rows += len(batch)
    return time.perf_counter() - started, rows


def measure_recompute() -> dict:
    from django.db import connection

    from crm.autotags import auto_tags_recompute

    counter = Counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = auto_tags_recompute(now=NOW)
    return {"seconds": time.perf_counter() - started, "statements": counter.count, "wanted": result.wanted,
            "added": result.added, "removed": result.removed,
            "maxrss_delta_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024}


def reset_auto_tags() -> None:
    sql("DELETE FROM crm_customertag WHERE source = 'auto'")
    sql("VACUUM (ANALYZE) crm_customertag")


def segments():
    """(label, SegmentFilters) of the segments measured."""
    from catalog.models import Category
    from crm.models import Tag
    from crm.segments import SegmentFilters

    tag = dict(Tag.objects.values_list("name", "pk"))
    group = dict(Tag.objects.values_list("name", "group_id"))
    shrimp = Category.objects.get(name="冻虾类").pk
    fish = Category.objects.get(name="冻鱼类").pk

    from customers.models import Customer

    # This benchmark's own data names districts 福田…; a demo database (--no-seed) 福田区…: rep 1's first.
    district = "福田" if Customer.objects.filter(district="福田").exists() else (
        Customer.objects.filter(rep_id=1).order_by("pk").values_list("district", flat=True).first() or "福田")

    def tags(*names):
        by_group = {}
        for name in names:
            by_group.setdefault(group[name], []).append(tag[name])
        return {g: tuple(ids) for g, ids in by_group.items()}

    return [
        ("火锅 OR 烧烤, AND 大", SegmentFilters(tag_ids_by_group=tags("火锅", "烧烤", "大"))),
        ("买虾 (auto tag)", SegmentFilters(tag_ids_by_group=tags("买虾"))),
        ("火锅 + 重要价值", SegmentFilters(tag_ids_by_group=tags("火锅", "重要价值"))),
        (f"rep 1 + district {district}", SegmentFilters(rep_ids=(1,), districts=(district,))),
        ("within 3 km of Futian", SegmentFilters(near=(22.54, 114.06, 3.0))),
        ("churned or at risk, last order 30-120 days", SegmentFilters(
            churn_statuses=("churned", "at_risk"), last_order_from=(NOW - timedelta(days=120)).date(),
            last_order_to=(NOW - timedelta(days=30)).date())),
        ("spend 500-5000 (90 days)", SegmentFilters(spend_min=Decimal("500"), spend_max=Decimal("5000"))),
        ("bought shrimp in 90 days", SegmentFilters(category_id=shrimp)),
        ("火锅, not bought fish in 90 days", SegmentFilters(tag_ids_by_group=tags("火锅"), category_id=fish,
                                                             category_bought=False)),
    ]


def measure_segments(rounds: int) -> list[dict]:
    from crm.segments import segment_count

    results = []
    for label, filters in segments():
        times, count = [], None
        segment_count(filters)  # warm
        for _ in range(rounds):
            started = time.perf_counter()
            count = segment_count(filters)
            times.append(time.perf_counter() - started)
        results.append({"segment": label, "count": count, "median_s": statistics.median(times), "max_s": max(times)})
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"CRM benchmark on {args.database_url.rsplit('@', 1)[-1]}", flush=True)
    churn.setup_django(args)
    from crm.models import CustomerTag
    from customers.models import Customer

    have = stored_params()
    if args.no_seed:
        global NOW
        NOW = churn.use_seeded_night() + timedelta(minutes=30)
        print(f"Measuring the database as it is (--no-seed), nightly run at {NOW.isoformat()}.", flush=True)
    elif args.reuse and have == wanted_params(args):
        print("Reusing the data set already there (--reuse).", flush=True)
    else:
        print(f"Generating {args.customers:,} customers, ~{args.customers * args.orders_per_customer:,.0f} orders "
              "and two lines each:", flush=True)
        generate(args)
    customers = Customer.objects.count()
    orders, lines = sql("SELECT (SELECT count(*) FROM orders_order WHERE paid_at IS NOT NULL), "
                        "(SELECT count(*) FROM orders_orderline)", fetch=True)[0]
    manual = CustomerTag.objects.filter(source="manual").count()
    print(f"\nData: {customers:,} customers, {orders:,} paid orders, {lines:,} order lines, {manual:,} manual tags")
    results = {"params": wanted_params(args), "customers": customers, "paid_orders": orders, "lines": lines}

    rounds = []
    for number in range(1, args.repeat + 1):
        reset_auto_tags()
        raw_seconds, raw_rows = measure_raw()
        first = measure_recompute()
        rerun = measure_recompute()
        if (rerun["added"], rerun["removed"]) != (0, 0):
            print(f"ERROR: the rerun changed {rerun['added']} + {rerun['removed']} tags")
            return 1
        rounds.append({"raw_seconds": raw_seconds, "raw_rows": raw_rows, "first": first, "rerun": rerun,
                       "ratio": first["seconds"] / raw_seconds, "ratio_rerun": rerun["seconds"] / raw_seconds})
        print(f"  round {number}: raw aggregate {raw_seconds:.2f} s ({raw_rows:,} rows) | nightly run "
              f"{first['seconds']:.2f} s ({first['statements']} statements, {first['added']:,} tags written, "
              f"maxrss +{first['maxrss_delta_mb']:.0f} MiB) = {rounds[-1]['ratio']:.2f}x | rerun "
              f"{rerun['seconds']:.2f} s (nothing to change) = {rounds[-1]['ratio_rerun']:.2f}x", flush=True)
    reset_auto_tags()
    tracemalloc.start()
    from crm.autotags import auto_tags_recompute

    auto_tags_recompute(now=NOW)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    med = {"raw_seconds": statistics.median(r["raw_seconds"] for r in rounds),
           "nightly_seconds": statistics.median(r["first"]["seconds"] for r in rounds),
           "rerun_seconds": statistics.median(r["rerun"]["seconds"] for r in rounds),
           "ratio": statistics.median(r["ratio"] for r in rounds),
           "ratio_rerun": statistics.median(r["ratio_rerun"] for r in rounds)}
    print(f"\nMedians: raw {med['raw_seconds']:.2f} s, nightly {med['nightly_seconds']:.2f} s "
          f"({med['ratio']:.2f}x; target <= 2.00x: {'met' if med['ratio'] <= 2 else 'NOT met'}), rerun "
          f"{med['rerun_seconds']:.2f} s ({med['ratio_rerun']:.2f}x). Python peak (tracemalloc): {peak_mb:.1f} MiB")

    seg = measure_segments(args.repeat)
    print(f"\nsegment_count ({args.repeat} rounds each, after one warm-up):")
    for row in seg:
        print(f"  {row['segment']:<45} {row['count']:>9,} customers  median {row['median_s'] * 1000:7.1f} ms  "
              f"max {row['max_s'] * 1000:7.1f} ms  ({'met' if row['max_s'] <= 1 else 'NOT met'} <= 1 s)")
    results.update(rounds=rounds, medians=med, tracemalloc_peak_mb=peak_mb, segments=seg)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
