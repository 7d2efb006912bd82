"""Seeding step for opening stock: one Stock row per product and the ledger row that explains it."""

import random
from decimal import Decimal

from django.db import transaction

from catalog.models import Product
from logistics.models import Stock, StockMove

from .base import BATCH_SIZE, DemoPlan, StepResult, decimal_2

OPENING_REFERENCE = "seed_demo"


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


def stock_seed(plan: DemoPlan) -> StepResult:
    """Gives every product without stock its opening stock; products that have stock are left alone."""
    missing = Product.objects.filter(stock__isnull=True)
    existing = Stock.objects.count()
    created = 0
    last_pk = 0
    with plan.progress_bar(total=missing.count(), desc="库存") as bar:
        while rows := list(
            missing.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "code", "unit")[:BATCH_SIZE]
        ):
            last_pk = rows[-1][0]
            stocks = [
                Stock(product_id=pk, on_hand=opening_quantity(plan, code=code, unit=unit)) for pk, code, unit in rows
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
                                  reference=OPENING_REFERENCE, note="演示数据期初库存")
                        for s in stocks if s.on_hand > 0
                    ],
                    batch_size=BATCH_SIZE,
                )
            created += len(stocks)
            bar.update(len(rows))
    return StepResult("库存", created, existing)
