"""Seeding steps for stock: opening stock (one Stock row per product, at a cost, and the ledger row
that explains it), then the shipments of the seeded order history.

The ledger tells one story: the opening stock was counted the day before the history's first packed
order; every day's packed orders left the warehouse (one SHIPMENT row per SKU and delivery day, valued
at the average cost, as packing values them); what is on the shelves now is what remains. So the
opening row is raised by what the history shipped, on-hand stays what it is, and on-hand still equals
the ledger's sum — the turnover report then reads real costs of goods shipped and inventory values.
"""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from catalog.models import Product
from logistics.models import Stock, StockMove
from orders.models import Order, OrderLine

from .base import BATCH_SIZE, DemoPlan, StepResult, decimal_2
from .rows import RowUpdater, RowWriter

OPENING_REFERENCE = "seed_demo"
SHIPMENT_REFERENCE = "seed-shipment-{day}"
SHIPMENT_NOTE = "演示数据：当日打包出库合计"
# Packing ends by about 04:30 on the delivery day (history.FULFILMENT); the day's shipment is booked then.
PACKED_BY = time(4, 30)
# What left the warehouse: packed, on the road, delivered, completed.
SHIPPED = (Order.Status.PACKED, Order.Status.OUT_FOR_DELIVERY, Order.Status.DELIVERED, Order.Status.COMPLETED)


def opening_quantity(plan: DemoPlan, *, code: str, unit: str) -> Decimal:
    """Seeded per SKU code, so the figure does not depend on which products got stock first."""
    rng = random.Random(f"{plan.seed}:stock:{code}")
    if rng.random() < 0.05:
        return Decimal("0.00")
    if unit == "斤":
        return decimal_2(rng.randrange(40, 1200) / 2)
    if unit == "kg":
        return decimal_2(rng.randrange(20, 600) / 2)
    if unit == "箱":
        return decimal_2(rng.randrange(2, 120))
    if unit in ("条", "只"):
        return decimal_2(rng.randrange(10, 300))
    return decimal_2(rng.randrange(10, 400))


def opening_cost(plan: DemoPlan, *, code: str, price: Decimal) -> Decimal:
    """What a unit cost the distributor: under the selling price, like the demo receipts' costs."""
    rng = random.Random(f"{plan.seed}:cost:{code}")
    return decimal_2(float(price) * rng.uniform(0.62, 0.8))


def stock_seed(plan: DemoPlan) -> StepResult:
    """Gives every product without stock its opening stock; products that have stock are left alone."""
    missing = Product.objects.filter(stock__isnull=True)
    existing = Stock.objects.count()
    created = 0
    last_pk = 0
    with plan.progress_bar(total=missing.count(), desc="库存") as bar:
        while rows := list(
            missing.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "code", "unit", "price")[:BATCH_SIZE]
        ):
            last_pk = rows[-1][0]
            stocks = [
                Stock(product_id=pk, on_hand=opening_quantity(plan, code=code, unit=unit),
                      average_cost=opening_cost(plan, code=code, price=price))
                for pk, code, unit, price in rows
            ]
            # Stock and its ledger rows commit together: on-hand always equals the ledger sum.
            with transaction.atomic():
                Stock.objects.bulk_create(stocks, batch_size=BATCH_SIZE)
                if any(s.pk is None for s in stocks):  # a backend that cannot return ids from a bulk insert
                    ids = dict(
                        Stock.objects.filter(product_id__in=[s.product_id for s in stocks]).values_list(
                            "product_id", "pk"
                        )
                    )
                    for s in stocks:
                        s.pk = ids[s.product_id]
                StockMove.objects.bulk_create(
                    [
                        StockMove(stock_id=s.pk, kind=StockMove.Kind.OPENING, on_hand_delta=s.on_hand,
                                  unit_cost=s.average_cost, reference=OPENING_REFERENCE, note="演示数据期初库存")
                        for s in stocks if s.on_hand > 0
                    ],
                    batch_size=BATCH_SIZE,
                )
            created += len(stocks)
            bar.update(len(rows))
    return StepResult("库存", created, existing)


def shipments_seed(plan: DemoPlan) -> StepResult:
    """The seeded history's packed orders, shipped: one SHIPMENT row per SKU and delivery day.

    Once: when seeded shipments are on the ledger, a rerun adds none (it would count days twice).
    """
    existing = StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT, reference__startswith="seed-shipment-").count()
    if existing:
        return StepResult("历史出库", 0, existing)
    from .history_plan import SEED_KEY_PREFIX

    shipped = (OrderLine.objects.filter(order__status__in=SHIPPED, order__idempotency_key__startswith=SEED_KEY_PREFIX)
               .values_list("product_id", "order__delivery_date").annotate(quantity=Sum("quantity"))
               .order_by("order__delivery_date", "product_id"))
    stocks = {product_id: (pk, cost) for product_id, pk, cost in
              Stock.objects.values_list("product_id", "pk", "average_cost")}
    tz = timezone.get_default_timezone()
    rows, totals = [], {}
    for product_id, day, quantity in shipped.iterator(chunk_size=5000):
        stock_id, cost = stocks[product_id]
        rows.append((stock_id, StockMove.Kind.SHIPMENT, -quantity, Decimal("0"), SHIPMENT_REFERENCE.format(day=day),
                     cost, SHIPMENT_NOTE, datetime.combine(day, PACKED_BY, tzinfo=tz)))
        totals[stock_id] = totals.get(stock_id, Decimal("0")) + quantity
    if not rows:
        return StepResult("历史出库", 0, 0)
    counted_at = rows[0][-1] - timedelta(days=1)
    with transaction.atomic():
        RowWriter(StockMove, ("stock", "kind", "on_hand_delta", "reserved_delta", "reference", "unit_cost", "note",
                              "created_at")).write(rows)
        openings = dict(StockMove.objects.filter(kind=StockMove.Kind.OPENING, stock_id__in=list(totals))
                        .values("stock_id").annotate(pk=Min("pk")).values_list("stock_id", "pk"))
        RowUpdater(StockMove, ["on_hand_delta", "created_at"]).write([
            (delta, counted_at, openings[stock_id]) for stock_id, delta in _raised_openings(openings, totals)])
        costs = {pk: cost for pk, cost in stocks.values()}
        RowWriter(StockMove, ("stock", "kind", "on_hand_delta", "reserved_delta", "reference", "unit_cost", "note",
                              "created_at")).write([
            (stock_id, StockMove.Kind.OPENING, total, Decimal("0"), OPENING_REFERENCE, costs[stock_id], "演示数据期初库存",
             counted_at)
            for stock_id, total in totals.items() if stock_id not in openings])
    return StepResult("历史出库", len(rows), 0)


def _raised_openings(openings: dict[int, int], totals: dict[int, Decimal]):
    """(stock_id, new opening delta) for the stocks that already have an opening row."""
    current = dict(StockMove.objects.filter(pk__in=list(openings.values())).values_list("stock_id", "on_hand_delta"))
    for stock_id, total in totals.items():
        if stock_id in openings:
            yield stock_id, current[stock_id] + total
