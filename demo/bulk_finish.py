"""After the bulk path's orders (demo/bulk.py): the rhythm columns, the shipments on the ledger, the
indexes and unique constraints rebuilt, today's deliveries, then the product's own sweeps and tags.

The work after the load runs on the --jobs connections at once where it does not conflict: the rhythm
UPDATE (customers) and the shipments (the stock ledger) first, the index builds largest table first as
soon as nothing writes their table; a unique constraint is built as its unique index (CREATE UNIQUE INDEX
takes a lock that lets other builds on the table go on) and attached to it at the end (`ADD CONSTRAINT
... USING INDEX`: no second build). The sweeps too: the churn sweep and the lost-item sweep read and
write different things (the lost-item rule reads `last_order_at`, not the churn status), the tags read
the orders, the snapshot the stock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from .base import DemoPlan, StepResult
from .bulk_plumbing import Task, run_graph, session_for_load, sql

if TYPE_CHECKING:
    from .bulk import BulkContext

# Tables whose secondary indexes and unique constraints are dropped for the load and rebuilt after.
LOADED_TABLES = ("customers_customer", "customers_visitor", "orders_order", "orders_orderline", "orders_payment",
                 "orders_orderevent", "reps_entryevent", "logistics_stockmove")
# What writes a loaded table after the orders: its indexes are built after that.
WRITERS = {"customers_customer": "rhythm", "logistics_stockmove": "shipments"}
BUILD_MEMORY = "1GB"  # per connection, for the sorts of the index builds (two at once on the machine's 23 GB)


@dataclass(frozen=True)
class Rebuild:
    table: str
    name: str
    build: str  # CREATE [UNIQUE] INDEX, or ALTER TABLE ... ADD CONSTRAINT for an exclusion constraint
    attach: str = ""  # ALTER TABLE ... ADD CONSTRAINT ... USING INDEX, for a unique constraint


def drop_indexes(tables=LOADED_TABLES) -> list[Rebuild]:
    """Drop the secondary indexes and unique/exclusion constraints of `tables`; returns how to rebuild them."""
    rebuild = []
    for table in tables:
        for name, kind, definition, index, deferrable, deferred in sql(
                "SELECT conname, contype, pg_get_constraintdef(oid), pg_get_indexdef(conindid), condeferrable, "
                "condeferred FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('u', 'x')",
                [table], fetch=True):
            sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            if kind == "u":
                timing = (" DEFERRABLE" + (" INITIALLY DEFERRED" if deferred else "")) if deferrable else ""
                rebuild.append(Rebuild(table, name, index,
                                       f'ALTER TABLE {table} ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"{timing}'))
            else:
                rebuild.append(Rebuild(table, name, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
        for name, definition in sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)", [table, table], fetch=True):
            sql(f'DROP INDEX "{name}"')
            rebuild.append(Rebuild(table, name, definition))
    return rebuild


def finish_load(ctx: BulkContext, jobs: int) -> dict:
    """The rhythm columns, the shipments and the index rebuild on `jobs` connections. Returns what each
    task took (seconds, summed per kind) and the shipment rows written."""
    sizes = {table: sql("SELECT pg_relation_size(%s)", [table], fetch=True)[0][0] for table in LOADED_TABLES}
    took: dict = {"rhythm columns": 0.0, "shipments": 0.0, "indexes and constraints (summed)": 0.0, "moved": 0}

    def timed(label, work):
        def run():
            t0 = time.monotonic()
            result = work()
            with ctx.lock:
                took[label] += time.monotonic() - t0
                if label == "shipments":
                    took["moved"] = result
        return run

    def loading(work):
        def run():
            session_for_load()
            return work(ctx)
        return run

    tasks = [Task("rhythm", timed("rhythm columns", loading(rhythm))),
             Task("shipments", timed("shipments", loading(shipments)))]
    builds = sorted(ctx.rebuild, key=lambda r: -sizes.get(r.table, 0))  # the longest first: the lanes end together
    for item in builds:
        tasks.append(Task(f"build {item.name}", timed("indexes and constraints (summed)", lambda s=item.build: _ddl(s)),
                          after=(WRITERS.get(item.table, ""),)))
    everything = tuple(task.name for task in tasks)
    for item in builds:
        if item.attach:  # an instant catalogue change, but it waits for every reader of its table
            tasks.append(Task(f"attach {item.name}", timed("indexes and constraints (summed)",
                                                           lambda s=item.attach: sql(s)), after=everything))
    run_graph(jobs, tasks)
    return took


def _ddl(statement: str) -> None:
    sql(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
    sql("SET max_parallel_maintenance_workers = 0")  # two statements at once already use both cores
    sql("SET jit = off")
    sql(statement)


def sweeps(plan: DemoPlan, jobs: int) -> list[StepResult]:
    """The product's own sweeps, tags and snapshot, on `jobs` connections; their results in the usual order."""
    from .figures import churn_seed, inventory_snapshot_seed, lost_items_seed

    steps = (churn_seed, lost_items_seed, _auto_tags, inventory_snapshot_seed)  # the order they are reported in
    # The tags take about as long as the two sweeps together: they start first, the sweeps share the other lane.
    longest_first = (_auto_tags, churn_seed, lost_items_seed, inventory_snapshot_seed)
    results: dict = {}

    def run(step):
        def go():
            t0 = time.monotonic()
            result = step(plan)
            results[step] = StepResult(result.label, result.created, result.existing, time.monotonic() - t0)
        return go

    run_graph(jobs, [Task(step.__name__, run(step)) for step in longest_first])
    return [results[step] for step in steps]


def rhythm(ctx: BulkContext) -> None:
    """The rhythm columns from the paid orders, as customers.churn's recompute wants them (it checks after):
    the interval rounded to the microsecond as Python's timedelta division rounds it."""
    sql("""UPDATE customers_customer c
           SET last_order_at = a.last, first_order_at = a.first, paid_order_count = a.n,
               usual_interval = CASE WHEN a.n >= 2 THEN (
                   -- microseconds, halves to even, as Python's timedelta / int rounds them
                   SELECT (CASE WHEN x - floor(x) > 0.5 OR (x - floor(x) = 0.5 AND floor(x)::bigint % 2 = 1)
                                THEN floor(x) + 1 ELSE floor(x) END) * interval '1 microsecond'
                   FROM (SELECT extract(epoch FROM a.last - a.first) * 1000000 / (a.n - 1) AS x) d) END
           FROM (SELECT customer_id, max(paid_at) AS last, min(paid_at) AS first, count(*) AS n
                 FROM orders_order WHERE paid_at IS NOT NULL GROUP BY customer_id) a
           WHERE c.id = a.customer_id""")


def shipments(ctx: BulkContext) -> int:
    """demo/stock.py's shipments, set-based: one SHIPMENT row per SKU and delivery day of what left the
    warehouse, valued at the average cost, and the opening rows raised by the same: on-hand unchanged."""
    from .stock import OPENING_REFERENCE, SHIPMENT_NOTE

    written = sql(f"""
        INSERT INTO logistics_stockmove (stock_id, kind, on_hand_delta, reserved_delta, reference, unit_cost, note,
            created_at)
        SELECT s.id, 'shipment', -sum(x.quantity), 0, 'seed-shipment-' || x.day, s.average_cost, %(note)s,
               (x.day + time '04:30') AT TIME ZONE 'Asia/Shanghai'
        FROM demo_bulk_shipped x JOIN logistics_stock s ON s.product_id = x.product_id
        GROUP BY s.id, s.average_cost, x.day ORDER BY x.day, s.id""", {"note": SHIPMENT_NOTE})
    if not written:
        return 0
    counted = sql("SELECT min(created_at) - interval '1 day' FROM logistics_stockmove WHERE kind = 'shipment'",
                  fetch=True)[0][0]
    sql("""UPDATE logistics_stockmove m SET on_hand_delta = m.on_hand_delta + t.total, created_at = %(counted)s
           FROM (SELECT s.id AS stock_id, sum(x.quantity) AS total FROM demo_bulk_shipped x
                 JOIN logistics_stock s ON s.product_id = x.product_id GROUP BY s.id) t
           WHERE m.stock_id = t.stock_id AND m.kind = 'opening'""", {"counted": counted})
    sql("""INSERT INTO logistics_stockmove (stock_id, kind, on_hand_delta, reserved_delta, reference, unit_cost, note,
               created_at)
           SELECT s.id, 'opening', t.total, 0, %(reference)s, s.average_cost, '演示数据期初库存', %(counted)s
           FROM (SELECT s.id AS stock_id, sum(x.quantity) AS total FROM demo_bulk_shipped x
                 JOIN logistics_stock s ON s.product_id = x.product_id GROUP BY s.id) t
           JOIN logistics_stock s ON s.id = t.stock_id
           WHERE NOT EXISTS (SELECT 1 FROM logistics_stockmove m WHERE m.stock_id = t.stock_id AND m.kind = 'opening')""",
        {"counted": counted, "reference": OPENING_REFERENCE})
    return written


def deliveries(ctx: BulkContext) -> int:
    """Today's orders that are packed or further, as stops on one run per delivery driver (round robin by
    district then time); delivered ones signed for by the contact. Earlier days' runs are not kept."""
    today = timezone.localdate(ctx.now)
    drivers = [pk for (pk,) in sql("SELECT id FROM logistics_driver WHERE kind = 'delivery' AND is_active ORDER BY id",
                                   fetch=True)]
    if not drivers:
        return 0
    sql("""INSERT INTO logistics_deliveryrun (created_at, updated_at, delivery_date, status, planned_by, driver_id)
           SELECT %(now)s, %(now)s, %(today)s, 'planned', 'seed', d FROM unnest(%(drivers)s::bigint[]) AS d
           ON CONFLICT DO NOTHING""", {"now": ctx.now, "today": today, "drivers": drivers})
    stops = sql("""
        WITH due AS (
            SELECT o.id, o.status, o.contact_name, o.updated_at,
                   row_number() OVER (ORDER BY o.district, o.created_at) - 1 AS i
            FROM orders_order o
            WHERE o.delivery_date = %(today)s AND o.status IN ('packed', 'out_for_delivery', 'delivered')
              AND NOT EXISTS (SELECT 1 FROM logistics_stop s WHERE s.order_id = o.id AND s.status <> 'failed')
        ), placed AS (
            SELECT due.*, (%(drivers)s::bigint[])[1 + (i %% %(n)s)] AS driver_id, i / %(n)s AS k FROM due
        )
        INSERT INTO logistics_stop (run_id, order_id, sequence, status, proof_kind, signed_by, left_at, photo,
            failure_reason, completed_at, far_from_customer, needs_reassignment)
        SELECT r.id, p.id, 1 + p.k + coalesce((SELECT max(sequence) FROM logistics_stop x WHERE x.run_id = r.id), 0),
               CASE WHEN p.status = 'delivered' THEN 'delivered' ELSE 'pending' END,
               CASE WHEN p.status = 'delivered' THEN 'signed' ELSE '' END,
               CASE WHEN p.status = 'delivered' THEN p.contact_name ELSE '' END, '', '', '',
               CASE WHEN p.status = 'delivered' THEN p.updated_at END, false, false
        FROM placed p JOIN logistics_deliveryrun r ON r.driver_id = p.driver_id AND r.delivery_date = %(today)s""",
                {"today": today, "drivers": drivers, "n": len(drivers)})
    sql("""UPDATE logistics_deliveryrun r SET status = CASE WHEN s.pending = 0 THEN 'done' ELSE 'in_progress' END
           FROM (SELECT st.run_id, count(*) FILTER (WHERE st.status = 'pending') AS pending,
                        count(*) FILTER (WHERE o.status IN ('out_for_delivery', 'delivered')) AS moving
                 FROM logistics_stop st JOIN orders_order o ON o.id = st.order_id GROUP BY st.run_id) s
           WHERE r.id = s.run_id AND r.delivery_date = %(today)s AND s.moving > 0""", {"today": today})
    return stops


def _auto_tags(plan: DemoPlan) -> StepResult:
    """The tag groups and rules of demo/crm.py, then the nightly automatic tags (crm's own SQL)."""
    from .crm import crm_seed

    return crm_seed(plan, set_based=True)
