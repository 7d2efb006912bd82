"""The bulk path's orders (demo/bulk.py): one chunk of the staged orders written with their lines,
payments and events in one transaction, from a restaurant's favourites (every HABIT_STRIDE-th SKU)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.db import transaction

from .bulk_plumbing import ORDERS_TABLE, PLAN_TABLE, PRODUCTS_TABLE, session_for_load, sql

if TYPE_CHECKING:
    from .bulk import BulkContext

HABITS = 12  # favourites per restaurant
HABIT_STRIDE = 7  # favourites are every 7th SKU from a start, in code order: a few neighbouring shelves


ORDER_ID_SQL = ("('00000000-' || lpad(to_hex(({seq}) >> 48), 4, '0') || '-4000-8000-' "
                "|| lpad(to_hex(({seq}) & 281474976710655), 12, '0'))::uuid")


def habit_stride(products: int) -> int:
    """HABIT_STRIDE, or another step coprime with the product count: a restaurant's 13 slots (its twelve
    favourites and the one replacing a lost favourite) are then 13 different products."""
    from math import gcd

    return next(s for s in (HABIT_STRIDE, 11, 13, 17, 1) if gcd(s, products) == 1)


def order_chunk(ctx: BulkContext, *, first_block: int, last_block: int, products: int, settings_row, weight: float,
                 chunk_seed: float) -> None:
    """Orders, lines, payments and events of the staged orders in a range of its pages (ctid): one transaction."""
    params = {
        "now": ctx.now, "min": settings_row.min_order_amount, "fee": settings_row.delivery_fee,
        "free": settings_row.free_delivery_threshold, "timeout": settings_row.payment_timeout_minutes,
        "cutoff": settings_row.cutoff_time, "products": products, "lo": f"({first_block},0)",
        "hi": f"({last_block},0)", "habits": HABITS, "stride": habit_stride(products),
    }
    started = time.monotonic()
    with transaction.atomic():
        session_for_load()
        sql("SELECT setseed(%s)", [chunk_seed])
        sql(f"""CREATE TEMP TABLE demo_bulk_chunk ON COMMIT DROP AS
                SELECT o.seq, o.customer_id, o.k, o.paid, o.nlines, o.shift,
                       o.at - (1 + 7 * random()) * interval '1 minute' AS created, o.at AS paid_at, random() AS r
                FROM {ORDERS_TABLE} o WHERE o.ctid >= %(lo)s::tid AND o.ctid < %(hi)s::tid""", params)
        # Lines: the customer's favourites from a per-order start; a lost favourite (slot 0) is replaced by
        # a thirteenth product from the day it was given up.
        sql(f"""CREATE TEMP TABLE demo_bulk_lines ON COMMIT DROP AS
                SELECT c.seq, l.k AS line, pr.idx, pr.id AS product_id, pr.price, pr.step_quantity,
                       pr.min_quantity + pr.step_quantity * floor(random() * random() * 6 * p.size)::int AS quantity
                FROM demo_bulk_chunk c
                JOIN {PLAN_TABLE} p ON p.customer_id = c.customer_id
                CROSS JOIN LATERAL generate_series(0, c.nlines - 1) AS l(k)
                CROSS JOIN LATERAL (
                    SELECT CASE WHEN p.lost AND (c.shift + l.k) %% %(habits)s = 0
                                     AND c.created > %(now)s::timestamptz - p.lost_days * interval '1 day'
                                THEN %(habits)s ELSE (c.shift + l.k) %% %(habits)s END AS slot
                ) h
                JOIN {PRODUCTS_TABLE} pr ON pr.idx = (p.habit_base + %(stride)s * h.slot) %% %(products)s""", params)
        # Under the minimum order: more of the first line (checkout refuses smaller baskets).
        sql("""UPDATE demo_bulk_lines l
               SET quantity = l.quantity + l.step_quantity * ceil((%(min)s - s.sub + 0.01) / (l.price * l.step_quantity))::int
               FROM (SELECT seq, sum(round(price * quantity, 2)) AS sub FROM demo_bulk_lines GROUP BY seq
                     HAVING sum(round(price * quantity, 2)) < %(min)s) s
               WHERE l.seq = s.seq AND l.line = 0""", params)
        sql(f"""INSERT INTO orders_orderline (order_id, product_id, product_code, product_name, spec, unit, unit_price,
                    quantity, amount, catch_weight, nominal_weight, price_list_name, discount)
                SELECT {ORDER_ID_SQL.format(seq="l.seq")}, l.product_id, pr.code, pr.name, pr.spec, pr.unit, l.price,
                       l.quantity, round(l.price * l.quantity, 2), pr.catch_weight, pr.nominal_weight, '', 0
                FROM demo_bulk_lines l JOIN {PRODUCTS_TABLE} pr ON pr.idx = l.idx""")
        # Every column of the order, once: orders, payments and events are written from it.
        # The warehouse's day for orders delivered today (local hours): packing from 1.0-2.5, packed 2.5-4.5,
        # out for delivery 5-7, delivered 7.5-11.5 (demo/history_plan.FULFILMENT).
        sql(f"""CREATE TEMP TABLE demo_bulk_rows ON COMMIT DROP AS
                WITH sums AS (SELECT seq, sum(round(price * quantity, 2)) AS subtotal FROM demo_bulk_lines GROUP BY seq),
                clock AS (SELECT (%(now)s::timestamptz AT TIME ZONE 'Asia/Shanghai')::date AS today,
                                 extract(epoch FROM (%(now)s::timestamptz AT TIME ZONE 'Asia/Shanghai')
                                         - date_trunc('day', %(now)s::timestamptz AT TIME ZONE 'Asia/Shanghai'))
                                 / 3600 AS hours),
                base AS (
                    SELECT c.seq, c.customer_id, c.k, c.paid, c.created, c.r, s.subtotal,
                           CASE WHEN s.subtotal >= %(free)s THEN 0 ELSE %(fee)s END AS fee,
                           c.created + %(timeout)s * interval '1 minute' AS expires,
                           (c.created AT TIME ZONE 'Asia/Shanghai')::date
                           + CASE WHEN (c.created AT TIME ZONE 'Asia/Shanghai')::time < %(cutoff)s THEN 1 ELSE 2 END
                             AS delivery_date,
                           CASE WHEN c.paid THEN c.paid_at END AS paid_at
                    FROM demo_bulk_chunk c JOIN sums s ON s.seq = c.seq
                )
                SELECT b.*, {ORDER_ID_SQL.format(seq="b.seq")} AS id,
                       to_char(b.expires AT TIME ZONE 'Asia/Shanghai', 'YYMMDD')
                       || lpad(((b.seq * 48271) %% 100000000)::text, 8, '0') AS number,
                       CASE WHEN NOT b.paid THEN 'cancelled'
                            WHEN b.delivery_date < clock.today THEN 'completed'
                            WHEN b.delivery_date > clock.today THEN 'paid'
                            WHEN clock.hours >= 7.5 + 4 * b.r THEN 'delivered'
                            WHEN clock.hours >= 5 + 2 * b.r THEN 'out_for_delivery'
                            WHEN clock.hours >= 2.5 + 2 * b.r THEN 'packed'
                            WHEN clock.hours >= 1 + 1.5 * b.r THEN 'packing'
                            ELSE 'paid' END AS status,
                       CASE WHEN NOT b.paid THEN b.expires + interval '30 seconds' END AS cancelled_at
                FROM base b CROSS JOIN clock""", params)
        sql(f"""INSERT INTO orders_order (id, created_at, updated_at, number, status, idempotency_key, delivery_date,
                    subtotal, delivery_fee, discount, total, restaurant_name, contact_name, phone, address, district,
                    latitude, longitude, note, expires_at, paid_at, cancelled_at, cancel_reason, customer_id, rep_id,
                    visitor_id)
                SELECT o.id, o.created, {UPDATED_SQL}, o.number, o.status, 'seed-' || o.customer_id || '-' || o.k,
                       o.delivery_date, o.subtotal, o.fee, 0, o.subtotal + o.fee, cu.name, cu.contact_name, cu.phone,
                       cu.address, cu.district, cu.latitude, cu.longitude,
                       CASE WHEN o.r < 0.05 THEN (ARRAY['请早上七点前送到', '后门卸货', '到了打电话', '送到后厨',
                            '冰块多放点', '放冷库门口'])[1 + floor(o.r * 120)::int] ELSE '' END,
                       o.expires, o.paid_at, o.cancelled_at, CASE WHEN o.paid THEN '' ELSE '超时未付款' END,
                       o.customer_id, cu.rep_id, o.customer_id
                FROM demo_bulk_rows o JOIN customers_customer cu ON cu.id = o.customer_id
                ORDER BY o.seq""", params)
        sql(f"""INSERT INTO orders_payment (created_at, updated_at, out_trade_no, amount_fen, status, transaction_id,
                    payer_openid, succeeded_at, order_id)
                SELECT o.created, coalesce(o.paid_at, o.cancelled_at), o.number, ((o.subtotal + o.fee) * 100)::int,
                       CASE WHEN o.paid THEN 'succeeded' ELSE 'closed' END,
                       CASE WHEN o.paid
                            THEN '4200' || to_char(o.paid_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
                                 || lpad(((o.seq * 2654435761) %% 10000000000000000)::text, 16, '0') END,
                       v.openid, o.paid_at, o.id
                FROM demo_bulk_rows o JOIN customers_visitor v ON v.id = o.customer_id""", params)
        # The audit trail's last transition of each order (the whole trail would triple the rows).
        sql(f"""INSERT INTO orders_orderevent (order_id, from_status, to_status, note, actor, created_at)
                SELECT o.id,
                       CASE o.status WHEN 'cancelled' THEN 'pending_payment' WHEN 'paid' THEN 'pending_payment'
                                     WHEN 'packing' THEN 'paid' WHEN 'packed' THEN 'packing'
                                     WHEN 'out_for_delivery' THEN 'packed' WHEN 'delivered' THEN 'out_for_delivery'
                                     ELSE 'delivered' END,
                       o.status,
                       CASE o.status WHEN 'cancelled' THEN '超时未付款，自动取消' WHEN 'paid' THEN '微信支付成功'
                                     WHEN 'packing' THEN '开始备货' WHEN 'packed' THEN '备货完成'
                                     WHEN 'out_for_delivery' THEN '司机已出发' WHEN 'delivered' THEN '已送达签收'
                                     ELSE '签收后自动完成' END,
                       CASE WHEN o.status IN ('cancelled', 'paid', 'completed') THEN 'system'
                            WHEN o.status IN ('packing', 'packed') THEN 'warehouse' ELSE 'driver' END,
                       {UPDATED_SQL}
                FROM demo_bulk_rows o""", params)
        # What left the warehouse, per SKU and delivery day (the stock ledger's shipments, written at the end).
        sql("""INSERT INTO demo_bulk_shipped
               SELECT l.product_id, o.delivery_date, sum(l.quantity)
               FROM demo_bulk_lines l JOIN demo_bulk_rows o ON o.seq = l.seq
               WHERE o.status IN ('packed', 'out_for_delivery', 'delivered', 'completed')
               GROUP BY l.product_id, o.delivery_date""")
    ctx.progress.advance(weight, "订单")
    with ctx.lock:
        ctx.timings["orders, lines, payments, events"] = (
            ctx.timings.get("orders, lines, payments, events", 0) + time.monotonic() - started)


# When an order last changed: completed the evening of its delivery day; today's stage about now; else paid or
# expired. Never later than now.
UPDATED_SQL = """least(CASE WHEN o.status = 'completed'
                            THEN (o.delivery_date + interval '23 hours') AT TIME ZONE 'Asia/Shanghai'
                            WHEN o.status IN ('packing', 'packed', 'out_for_delivery', 'delivered')
                            THEN %(now)s::timestamptz - (o.r * 30) * interval '1 minute'
                            WHEN o.status = 'cancelled' THEN o.cancelled_at
                            ELSE o.paid_at END, %(now)s::timestamptz)"""
