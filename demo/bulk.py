"""The product's design volume on PostgreSQL (`manage.py seed_demo --bulk --scale 100`): 500,000
restaurants, 1,000 reps, 30,000 SKUs and ~10M orders with their lines, payments, audit events, the
reps' entry records and today's deliveries, in minutes rather than the hours the row-by-row path of
demo/history.py would take.

The small things (categories, products and their opening stock, suppliers, reps, staff, the beat
schedule) come from the same steps as the ordinary seeding (demo/seed.py). Everything that grows
with the customers is written set-based, `INSERT ... SELECT` over `generate_series` and small
unlogged planning tables, in chunks so a progress bar with an ETA can follow and two connections can
share the work (the machine has two cores). While the big tables load, their secondary indexes and
unique constraints are dropped and foreign keys are not checked row by row (`session_replication_role
= replica`, every id comes from the tables just filled); each is rebuilt once, sorted, after the
load, and everything is ANALYZEd at the end. CHECK constraints stay on: every row still passes
`order_total_adds_up`, `orderline_quantity_positive` and the others as it is written.

What the data looks like (the same rules as the row-by-row seeder, drawn with SQL's random()):

- Customers by the churn benchmark's segments (one place: `PLAN_SQL`): 3 % never ordered, 15 %
  churned long ago, 3 % near the 30-day churn line, 6 % frequent buyers silent for several of their
  intervals (the at-risk ones), the rest ordering to their rhythm (every 1-14 days). Each orders at a
  habitual time of day (Shanghai business hours), never in the future.
- Baskets of 1-5 lines from the restaurant's twelve favourites (neighbouring SKUs in code order,
  so a restaurant has a few aisles it buys from: the automatic "买虾" tags find real shares);
  quantities are `min_quantity + k x step_quantity`; prices are today's; an order under the minimum
  gets more of its first line, as checkout would refuse it otherwise; the delivery fee by
  `OrderSettings`; totals add up. One restaurant in 20 stopped buying one of its favourites 20-60
  days ago: the lost-item sweep's real cases.
- 2 % of orders were never paid (cancelled, payment closed); every paid order has a succeeded
  payment for its total in fen. Statuses by the delivery date (cut-off in Shanghai time): delivered
  before today → completed; today → the warehouse's stage by now; later → paid. One audit event per
  order: its last transition.
- Each ordering restaurant's first entry is its rep's code (scene `r=<key>`, credited) shortly before
  its first order; a few later orders follow a rescan of that code (not credited). The visitor's first
  touch and the customer's acquisition are that entry and that rep.
- Today's deliveries: orders due today that are packed or further are stops on runs of the delivery
  drivers (one run a driver), delivered ones signed for.
- The history's shipments on the stock ledger (one SHIPMENT row per SKU and delivery day), the opening
  rows raised by them: on-hand unchanged, ledger sum = on-hand.

Then the product's own set-based services bring the derived figures in line: one churn sweep, one
lost-item sweep, the automatic tags, today's inventory snapshot. The rhythm columns are written by one
UPDATE with the product's rule (customers.churn.usual_interval, to the microsecond); the tests check
that customers.churn's nightly drift check finds nothing (at 100× that check's server-side cursor
read ran for more than 4 minutes under load, so the seeding does not run it). See README "Data at 100×".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from .base import DemoPlan, StepResult
from .bulk_finish import LOADED_TABLES, deliveries, drop_indexes, finish_load, sweeps
from .bulk_orders import HABITS, order_chunk
from .bulk_plumbing import (
    META_TABLE,
    ORDERS_TABLE,
    PLAN_TABLE,
    PRODUCTS_TABLE,
    SCRATCH_TABLES,
    TIMES_TABLE,
    Progress,
    run_parallel,
    session_for_load,
    sql,
)

# Volumes at --scale 1 on this path. --scale 100 is the design volume of docs (500,000 customers,
# 1,000 reps, 30,000 SKUs: the catalogue grows ten times slower than the customers, as in the story).
BULK_PRODUCTS_PER_SCALE = 300
ORDERS_PER_CUSTOMER = 20.0  # mean paid orders per customer, never-ordering ones included: 10M at 500,000
UNPAID_SHARE = 0.02
LOST_SHARE = 0.05  # restaurants that stopped buying one favourite
RESCAN_SHARE = 0.04
CHUNKS = 24  # order chunks: the progress bar's granularity and the two connections' unit of work


def plan_for(scale: float, *, seed: int, jobs: int, progress: bool, now: datetime | None = None) -> DemoPlan:
    """The bulk path's volumes for a scale (see BULK_PRODUCTS_PER_SCALE)."""
    base = DemoPlan.for_scale(scale, seed=seed, jobs=jobs, progress=progress)
    return DemoPlan(seed=seed, products=max(20, round(BULK_PRODUCTS_PER_SCALE * scale)),
                    suppliers=max(1, round(base.suppliers / 10)),
                    reps=max(2, base.reps), customers=max(100, base.customers), history_months=0, now=now,
                    jobs=jobs, progress=progress)


# --------------------------------------------------------------------------------------------------
# The plan: one row per customer, its segment and rhythm (shared with bench/churn_sweep.py).

PLAN_SQL = """
    CREATE UNLOGGED TABLE {table} AS
    WITH base AS (
        SELECT i, random() AS u, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
               random() AS r5, random() AS r6, random() AS r7
        FROM generate_series(1, %(n)s) AS i
    ), seg AS (
        SELECT *, CASE WHEN u < 0.03 THEN 'never' WHEN u < 0.18 THEN 'churned_long'
                       WHEN u < 0.21 THEN 'near_churn' WHEN u < 0.27 THEN 'rhythm' ELSE 'active' END AS segment
        FROM base
    ), rhythm AS (
        SELECT *, CASE segment WHEN 'churned_long' THEN 3 + 18 * r1 WHEN 'near_churn' THEN 3 + 11 * r1
                               WHEN 'rhythm' THEN 1 + 4 * r1 ELSE 1 + 13 * r1 * r1 END AS interval_days
        FROM seg
    )
    SELECT i AS customer_id, segment, interval_days,
           CASE segment WHEN 'churned_long' THEN 31 + 334 * r2 WHEN 'near_churn' THEN 25 + 10 * r2
                        WHEN 'rhythm' THEN least(interval_days * (2 + 4 * r2), 28)
                        ELSE interval_days * 1.2 * r2 END AS silence_days,
           CASE WHEN segment = 'never' THEN 0
                ELSE greatest(1, round(%(m)s * (0.1 + 1.8 * r3)))::int END AS n_orders,
           r4 < 0.2 AS has_cancelled,
           -- what the demo path adds: habits, basket size, time of day, a lost favourite
           floor(r5 * %(products)s)::int AS habit_base,
           (0.6 + 1.2 * r6)::float8 AS size,
           CASE WHEN r7 < 0.25 THEN 600 WHEN r7 < 0.6 THEN 900 ELSE 1290 END AS habit_minutes,
           r7 * 1000 - floor(r7 * 1000) < %(lost)s AS lost,
           20 + 40 * r2 AS lost_days
    FROM rhythm
"""


def create_plan(*, table: str, customers: int, orders_per_customer: float, products: int, seed: float) -> None:
    sql(f"DROP TABLE IF EXISTS {table}")
    sql("SELECT setseed(%s)", [seed])
    sql(PLAN_SQL.format(table=table), {"n": customers, "m": orders_per_customer / 0.97,
                                       "products": max(products, 1), "lost": LOST_SHARE})
    sql(f"ALTER TABLE {table} ADD PRIMARY KEY (customer_id)")


# --------------------------------------------------------------------------------------------------
# The steps.


@dataclass
class BulkContext:
    plan: DemoPlan
    now: datetime
    progress: Progress
    orders_per_customer: float
    timings: dict = field(default_factory=dict)
    rebuild: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    weights: dict = field(default_factory=dict)

    @property
    def seed(self) -> float:
        return (self.plan.seed % 1000003) / 1000003  # setseed's range

    def step(self, label: str, weight: float):
        ctx = self

        class Step:
            def __enter__(self):
                self.started = time.monotonic()
                return self

            def __exit__(self, *exc):
                if exc[0] is None:
                    ctx.timings[label] = ctx.timings.get(label, 0) + time.monotonic() - self.started
                    if weight:
                        ctx.progress.advance(weight, label)
                return False

        return Step()


def _scratch_products(ctx: BulkContext) -> int:
    """Active priced products in code order, numbered from 0: what a favourite's index points at."""
    sql(f"DROP TABLE IF EXISTS {PRODUCTS_TABLE}")
    sql(f"""CREATE UNLOGGED TABLE {PRODUCTS_TABLE} AS
            SELECT (row_number() OVER (ORDER BY code) - 1)::int AS idx, id, code, name, spec, unit, price, catch_weight,
                   nominal_weight, min_quantity, step_quantity
            FROM catalog_product WHERE is_active AND price > 0""")
    sql(f"ALTER TABLE {PRODUCTS_TABLE} ADD PRIMARY KEY (idx)")
    return sql(f"SELECT count(*) FROM {PRODUCTS_TABLE}", fetch=True)[0][0]


def _customers(ctx: BulkContext) -> None:
    """Customers and their visitors from the plan: names, places in their district, their district's rep."""
    from .names_data import CONTACT_TITLES, GIVEN_CHARS, RESTAURANT_PREFIXES, RESTAURANT_TYPES, SURNAMES
    from .places_data import DISTRICTS
    from .people import seed_openid  # noqa: F401 - the same shape of OpenID ('o' + 27 characters)

    sql("DROP TABLE IF EXISTS demo_bulk_areas")
    sql("CREATE UNLOGGED TABLE demo_bulk_areas (slot int, district text, area text, lat float8, lng float8, "
        "streets text[])")
    rows, slot = [], 0
    for district, (share, areas, streets) in DISTRICTS.items():
        for area, lat, lng in areas:
            for _ in range(max(1, round(share * 12 / len(areas)))):  # a district's share, spread over its areas
                rows.append((slot, district, area, lat, lng, list(streets)))
                slot += 1
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO demo_bulk_areas VALUES (%s, %s, %s, %s, %s, %s)", rows)
    sql("DROP TABLE IF EXISTS demo_bulk_reps")
    sql("""CREATE UNLOGGED TABLE demo_bulk_reps AS
           SELECT r.id, r.key, r.territory, row_number() OVER (PARTITION BY r.territory ORDER BY r.id) - 1 AS k,
                  count(*) OVER (PARTITION BY r.territory) AS n, row_number() OVER (ORDER BY r.id) - 1 AS g,
                  count(*) OVER () AS total
           FROM reps_rep r WHERE r.is_active""")
    sql("CREATE INDEX ON demo_bulk_reps (territory, k)")
    sql("CREATE INDEX ON demo_bulk_reps (g)")
    sql("ALTER TABLE demo_bulk_areas ADD COLUMN rep_n int")
    sql("UPDATE demo_bulk_areas a SET rep_n = (SELECT count(*) FROM demo_bulk_reps r WHERE r.territory = a.district)")
    sql("DROP TABLE IF EXISTS demo_bulk_firsts")
    sql(f"""CREATE UNLOGGED TABLE demo_bulk_firsts AS
            SELECT customer_id, min(at) AS first_at, max(at) AS last_at FROM {TIMES_TABLE} GROUP BY customer_id""")
    # First order time per customer (its created_at comes just before), from the staged orders.
    sql(f"""
        INSERT INTO customers_customer (id, created_at, updated_at, name, contact_name, phone, address, district,
            latitude, longitude, rep_id, acquired_by_id, acquired_at, paid_order_count, status)
        SELECT p.customer_id, t.joined, t.joined, t.name, t.contact, t.phone, t.address, a.district,
               round(least(greatest(a.lat + 0.012 * t.g1, 22.451), 22.849)::numeric, 6),
               round(least(greatest(a.lng + 0.014 * t.g2, 113.751), 114.499)::numeric, 6),
               rp.id, rp.id, CASE WHEN rp.id IS NOT NULL THEN t.joined END, 0, 'active'
        FROM {PLAN_TABLE} p
        LEFT JOIN demo_bulk_firsts f ON f.customer_id = p.customer_id
        -- (each lateral names a column of p: an uncorrelated one would be drawn once for every row)
        CROSS JOIN LATERAL (SELECT floor(random() * %(areas)s + 0 * p.customer_id)::int AS slot,
                                   random() AS pick, random() AS branch) d
        JOIN demo_bulk_areas a ON a.slot = d.slot
        LEFT JOIN demo_bulk_reps rd ON rd.territory = a.district AND rd.k = floor(d.pick * a.rep_n)
        LEFT JOIN demo_bulk_reps ra ON a.rep_n = 0 AND ra.g = floor(d.pick * ra.total)
        CROSS JOIN LATERAL (SELECT coalesce(rd.id, ra.id) AS id) rp
        CROSS JOIN LATERAL (
            SELECT coalesce(f.first_at - (8.5 + 6 * random()) * interval '1 minute',  -- before checkout's 1-8 min
                            %(now)s::timestamptz - (1 + 59 * random()) * interval '1 day') AS joined,
                   (%(prefixes)s::text[])[1 + floor(random() * %(n_prefixes)s)::int]
                   || (%(types)s::text[])[1 + floor(random() * %(n_types)s)::int]
                   || CASE WHEN d.branch < 0.45 THEN '(' || a.area || '店)'
                           WHEN d.branch < 0.6 THEN '(' || left(a.district, -1) || '店)' ELSE '' END AS name,
                   CASE WHEN random() < 0.8
                        THEN (%(surnames)s::text[])[1 + floor(random() * %(n_surnames)s)::int]
                             || (%(given)s::text[])[1 + floor(random() * %(n_given)s)::int]
                        ELSE (%(surnames)s::text[])[1 + floor(random() * %(n_surnames)s)::int]
                             || (%(titles)s::text[])[1 + floor(random() * %(n_titles)s)::int] END AS contact,
                   (ARRAY['139', '138', '137', '136', '135', '186', '188', '158'])[1 + p.customer_id %% 8]
                   || lpad(((p.customer_id::bigint * 48271) %% 100000000)::text, 8, '0') AS phone,
                   '深圳市' || a.district || a.streets[1 + floor(random() * array_length(a.streets, 1))::int]
                   || (1 + floor(random() * 998))::int || '号' AS address,
                   (random() + random() + random() - 1.5) * 1.4 AS g1, (random() + random() + random() - 1.5) * 1.4 AS g2
        ) t""", {"now": ctx.now, "areas": len(rows), "prefixes": list(RESTAURANT_PREFIXES), "n_prefixes": len(RESTAURANT_PREFIXES),
                 "types": list(RESTAURANT_TYPES), "n_types": len(RESTAURANT_TYPES), "surnames": list(SURNAMES),
                 "n_surnames": len(SURNAMES), "given": list(GIVEN_CHARS), "n_given": len(GIVEN_CHARS),
                 "titles": list(CONTACT_TITLES), "n_titles": len(CONTACT_TITLES)})
    sql("SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), (SELECT max(id) FROM customers_customer))")


def _times(ctx: BulkContext, chunk_customers: int) -> None:
    """Each customer's order times, back from the last one at its interval (+-25 %), at its habitual time
    of day in Shanghai; never later than the payment timeout before now (nothing is left awaiting payment)."""
    n = ctx.plan.customers
    sql(f"DROP TABLE IF EXISTS {TIMES_TABLE}")
    sql(f"CREATE UNLOGGED TABLE {TIMES_TABLE} (customer_id bigint, k int, at timestamptz, paid boolean, "
        "nlines int, shift int)")
    latest = ctx.now - timedelta(minutes=20)
    step = max(chunk_customers, 1)
    for lo in range(1, n + 1, step):
        with ctx.step("order times", step / n * ctx.weights["times"]):
            sql(f"""
                INSERT INTO {TIMES_TABLE}
                SELECT p.customer_id, k, CASE WHEN t.ts > %(latest)s THEN t.ts - interval '1 day' ELSE t.ts END,
                       random() >= %(unpaid)s, 1 + floor(random() * random() * 5 * p.size)::int %% 5,
                       floor(random() * {HABITS})::int
                FROM {PLAN_TABLE} p CROSS JOIN LATERAL generate_series(0, p.n_orders - 1) AS k
                CROSS JOIN LATERAL (
                    SELECT (((%(now)s::timestamptz - (p.silence_days + k * p.interval_days
                                + CASE WHEN k > 0 THEN (random() - 0.5) * 0.5 * p.interval_days ELSE 0 END)
                                * interval '1 day') AT TIME ZONE 'Asia/Shanghai')::date
                             + least(greatest(p.habit_minutes + (random() + random() + random() - 1.5) * 90, 480), 1430)
                               * interval '1 minute') AT TIME ZONE 'Asia/Shanghai' AS ts
                ) t
                WHERE p.customer_id >= %(lo)s AND p.customer_id < %(hi)s""",
                {"now": ctx.now, "latest": latest, "unpaid": UNPAID_SHARE, "lo": lo, "hi": lo + step})


def _stage_orders(ctx: BulkContext) -> int:
    """The orders in time order, numbered: a customer's orders lie spread over the table, as production appends them."""
    sql(f"DROP TABLE IF EXISTS {ORDERS_TABLE}")
    sql("SET work_mem = '512MB'")
    sql(f"""CREATE UNLOGGED TABLE {ORDERS_TABLE} AS
            SELECT row_number() OVER (ORDER BY at, customer_id, k) AS seq, customer_id, k, at, paid, nlines, shift
            FROM {TIMES_TABLE} ORDER BY at, customer_id, k""")
    sql("RESET work_mem")
    return sql(f"SELECT count(*) FROM {ORDERS_TABLE}", fetch=True)[0][0]





def _entries_and_visitors(ctx: BulkContext) -> None:
    """Each ordering restaurant's first entry through its rep's code, in the rep's hours 0-3 days before it
    became a customer (just before its first order); its visitor appeared seconds before that; a few later
    orders follow a rescan of the code. What reps.services.entry_record would have left."""
    first_scenes = "(ARRAY[1047, 1047, 1047, 1047, 1047, 1047, 1011, 1048, 1012, 1007])"
    rescan_scenes = "(ARRAY[1047, 1047, 1047, 1047, 1047, 1047, 1047, 1011, 1048, 1007])"
    kind = """CASE {code} WHEN 1047 THEN 'in_person' WHEN 1011 THEN 'in_person' WHEN 1048 THEN 'forwarded_image'
                        WHEN 1012 THEN 'forwarded_image' ELSE 'share_card' END"""
    sql("DROP TABLE IF EXISTS demo_bulk_first_entries")
    sql(f"""CREATE TEMP TABLE demo_bulk_first_entries AS
            SELECT c.id, c.rep_id, c.created_at AS joined, f.last_at, e.ts AS at, e.code
            FROM customers_customer c JOIN demo_bulk_firsts f ON f.customer_id = c.id
            CROSS JOIN LATERAL (
                SELECT CASE WHEN t.ts < c.created_at - interval '5 minutes' THEN t.ts
                            ELSE c.created_at - (5 + 40 * random()) * interval '1 minute' END AS ts,
                       {first_scenes}[1 + floor(random() * 10)::int] AS code
                FROM (SELECT ((((c.created_at AT TIME ZONE 'Asia/Shanghai')::date
                               - (CASE WHEN random() < 0.45 THEN 0 WHEN random() < 0.55 THEN 1
                                       WHEN random() < 0.6 THEN 2 ELSE 3 END))
                              + (540 + 600 * random()) * interval '1 minute') AT TIME ZONE 'Asia/Shanghai') AS ts) t
            ) e""")
    sql(f"""INSERT INTO reps_entryevent (visitor_id, customer_id, rep_id, scene_code, scene_kind, visit_kind, scene,
                launch_id, credited, created_at)
            SELECT e.id, NULL, e.rep_id, e.code, {kind.format(code="e.code")}, 'first_visit',
                   CASE WHEN r.key IS NOT NULL THEN 'r=' || r.key ELSE '' END, '', e.rep_id IS NOT NULL, e.at
            FROM demo_bulk_first_entries e LEFT JOIN reps_rep r ON r.id = e.rep_id ORDER BY e.at""")
    sql("""INSERT INTO customers_visitor (id, created_at, updated_at, openid, unionid, nickname, phone, customer_id,
               first_rep_id, first_touch_at, last_seen_at)
           SELECT c.id, coalesce(e.at, c.created_at) - (5 + 115 * random()) * interval '1 second',
                  coalesce(e.last_at, c.created_at), 'o' || substr(md5(%(seed)s || ':openid:' || c.phone), 1, 27), '',
                  c.contact_name, c.phone, c.id, e.rep_id, e.at, e.last_at
           FROM customers_customer c LEFT JOIN demo_bulk_first_entries e ON e.id = c.id""",
        {"seed": str(ctx.plan.seed)})
    sql("SELECT setval(pg_get_serial_sequence('customers_visitor', 'id'), (SELECT max(id) FROM customers_visitor))")
    sql(f"""INSERT INTO reps_entryevent (visitor_id, customer_id, rep_id, scene_code, scene_kind, visit_kind, scene,
                launch_id, credited, created_at)
            SELECT t.customer_id, t.customer_id, c.rep_id, s.code, {kind.format(code="s.code")}, 'customer_rescan',
                   'r=' || r.key, '', false, s.ts
            FROM {TIMES_TABLE} t JOIN customers_customer c ON c.id = t.customer_id JOIN reps_rep r ON r.id = c.rep_id
            CROSS JOIN LATERAL (SELECT t.at - (10 + 230 * random()) * interval '1 minute' AS ts,
                                       {rescan_scenes}[1 + floor(random() * 10)::int] AS code) s
            WHERE random() < %(share)s AND s.ts > c.created_at + interval '1 day'
            ORDER BY s.ts""", {"share": RESCAN_SHARE})
    sql("DROP TABLE demo_bulk_first_entries")


# --------------------------------------------------------------------------------------------------
# The run.


def bulk_seed(*, plan: DemoPlan, orders_per_customer: float = ORDERS_PER_CUSTOMER,
              on_step: Callable[[StepResult], None] | None = None) -> dict:
    """The whole bulk path. The database must have no customers yet (the ordinary path adds to existing data;
    this one writes ids from 1). Returns the per-step timings in seconds."""
    from orders.models import OrderSettings

    from . import seed as demo_seed_module
    from .catalog import categories_seed, products_seed, suppliers_seed
    from .figures import periodic_tasks_seed
    from .logistics import staff_seed
    from .people import admin_seed, reps_seed
    from .stock import stock_seed

    if connection.vendor != "postgresql":
        raise ValueError("bulk seeding needs PostgreSQL")
    now = plan.now or timezone.now()
    scale_customers = plan.customers / 500_000  # 1.0 at the design volume
    # Seconds each step took at --scale 100 on the shared 2-core machine (load average ~12): the bar's ETA.
    weights = {"catalogue": 60, "plan": 2, "times": 60, "stage": 50, "customers": 60, "entries": 65,
               "orders": 630, "indexes": 400, "rhythm": 120, "shipments": 200, "deliveries": 70,
               "sweeps": 300, "analyze": 60}
    total = weights["catalogue"] + sum(v for k, v in weights.items() if k != "catalogue") * max(scale_customers, 0.01)
    results = []

    def report(label: str, created: int, seconds: float) -> None:
        result = StepResult(label, created, 0, seconds)
        results.append(result)
        if on_step is not None:
            on_step(result)

    with Progress(plan=plan, total=total) as progress:
        ctx = BulkContext(plan=replace_now(plan, now), now=now, progress=progress,
                          orders_per_customer=orders_per_customer,
                          weights={k: v * max(scale_customers, 0.01) for k, v in weights.items()})
        ctx.weights["catalogue"] = weights["catalogue"]
        if sql("SELECT EXISTS (SELECT 1 FROM customers_customer)", fetch=True)[0][0]:
            raise ValueError("customers exist")
        quiet = replace_progress(ctx.plan)
        started = time.monotonic()
        for small in (admin_seed, categories_seed, suppliers_seed, products_seed, stock_seed, reps_seed, staff_seed,
                      periodic_tasks_seed):
            t0 = time.monotonic()
            result = small(quiet)
            report(result.label, result.created, time.monotonic() - t0)
            progress.advance(ctx.weights["catalogue"] / 8, result.label)
        ctx.timings["catalogue, reps, staff"] = time.monotonic() - started
        del demo_seed_module

        settings_row = OrderSettings.current()
        session_for_load()
        with ctx.step("plan", ctx.weights["plan"]):
            products = _scratch_products(ctx)
            if products <= HABITS:
                raise ValueError(f"bulk seeding needs more than {HABITS} active products, found {products}")
            create_plan(table=PLAN_TABLE, customers=plan.customers, orders_per_customer=orders_per_customer,
                        products=products, seed=ctx.seed)
        with ctx.step("drop indexes", 0):
            ctx.rebuild = drop_indexes()
        _times(ctx, chunk_customers=max(1000, plan.customers // 20))
        with ctx.step("orders in time order", ctx.weights["stage"]):
            staged = _stage_orders(ctx)
        with ctx.step("customers", ctx.weights["customers"]):
            _customers(ctx)
        with ctx.step("visitors and entries", ctx.weights["entries"]):
            _entries_and_visitors(ctx)
        report("客户、访客、进入记录", plan.customers, ctx.timings["customers"] + ctx.timings["visitors and entries"])
        # Orders in chunks of the staged table's pages, on two connections.
        sql("DROP TABLE IF EXISTS demo_bulk_shipped")
        sql("CREATE UNLOGGED TABLE demo_bulk_shipped (product_id bigint, day date, quantity numeric)")
        sql("ANALYZE demo_bulk_plan")
        pages = sql(f"SELECT pg_relation_size('{ORDERS_TABLE}') / current_setting('block_size')::int",
                    fetch=True)[0][0] + 1
        chunks = max(1, min(CHUNKS, pages))
        bounds = [round(pages * i / chunks) for i in range(chunks + 1)]
        t0 = time.monotonic()
        tasks = [
            (lambda lo=lo, hi=hi, i=i: order_chunk(
                ctx, first_block=lo, last_block=hi if i < chunks - 1 else 2**31 - 1, products=products,
                settings_row=settings_row, weight=ctx.weights["orders"] / chunks,
                chunk_seed=((ctx.plan.seed + i * 7919) % 1000003) / 1000003))
            for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False))
        ]
        run_parallel(max(1, plan.jobs), tasks)
        report("历史订单（含明细、支付、事件）", staged, time.monotonic() - t0)
        # Still without secondary indexes: the rhythm columns (one UPDATE from an aggregate) and the
        # shipments on the ledger are cheaper to write before the indexes than through them; they and the
        # index builds share the connections (demo/bulk_finish.py).
        with ctx.step("rhythm, shipments, indexes and constraints", ctx.weights["rhythm"] + ctx.weights["shipments"]
                      + ctx.weights["indexes"]):
            t0 = time.monotonic()
            took = finish_load(ctx, max(1, plan.jobs))
        moved = took.pop("moved")
        ctx.timings.update(took)
        report("节奏字段、历史出库、重建索引和约束", moved, time.monotonic() - t0)
        sql("SET session_replication_role = DEFAULT")
        for table in (*LOADED_TABLES, "logistics_stock"):
            sql(f"ANALYZE {table}")
        with ctx.step("deliveries", ctx.weights["deliveries"]):
            stops = deliveries(ctx)
        report("今日配送站点", stops, ctx.timings.get("deliveries", 0))
        with ctx.step("VACUUM ANALYZE", ctx.weights["analyze"] / 2):
            for table in SCRATCH_TABLES:
                sql(f"DROP TABLE IF EXISTS {table}")
            sql("VACUUM (ANALYZE) customers_customer")
            sql("VACUUM (ANALYZE) customers_visitor")
            sql("ANALYZE")
        # The product's own services from here: checks and sweeps on the finished data.
        with ctx.step("churn and lost-item sweeps, tags, snapshot", ctx.weights["sweeps"]):
            for result in sweeps(ctx.plan, max(1, plan.jobs)):
                results.append(result)
                if on_step is not None:
                    on_step(result)
        with ctx.step("ANALYZE", ctx.weights["analyze"] / 2):
            for table in ("customers_customer", "crm_customertag", "usuals_lostitemalert", "customers_churnevent",
                          "notifications_notification"):
                sql(f"ANALYZE {table}")
        sql(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
        import json

        sql(f"INSERT INTO {META_TABLE} VALUES ('params', %s), ('timings', %s) ON CONFLICT (key) DO UPDATE "
            "SET value = EXCLUDED.value",
            [json.dumps({"customers": plan.customers, "products": plan.products, "reps": plan.reps,
                         "orders_per_customer": orders_per_customer, "seed": plan.seed, "now": now.isoformat()}),
             json.dumps(ctx.timings)])
    return ctx.timings



def replace_now(plan: DemoPlan, now: datetime) -> DemoPlan:
    from dataclasses import replace

    return replace(plan, now=now)


def replace_progress(plan: DemoPlan) -> DemoPlan:
    from dataclasses import replace

    return replace(plan, progress=False)


def seeded_now() -> datetime | None:
    """The moment a bulk seeding ran up to (its orders are before it), or None if none ran here."""
    if not sql("SELECT to_regclass(%s) IS NOT NULL", [META_TABLE], fetch=True)[0][0]:
        return None
    import json

    rows = sql(f"SELECT value FROM {META_TABLE} WHERE key = 'params'", fetch=True)
    return datetime.fromisoformat(json.loads(rows[0][0])["now"]) if rows else None
