"""The demo data generator behind `manage.py seed_demo`: its steps, in order.

Seeding is a list of steps run in order. Each step regenerates its rows from the seed and inserts
only those whose natural key (category name, SKU code, supplier name, rep key, customer phone, a
customer's visitor, a customer's seeded orders, a visitor's entries, a staff login, a demo receipt's
note, tomorrow's purchase tasks, the routed day's runs) is not there yet, so running it
again adds nothing and a step added later starts from where the data is.
"""

import time
from collections.abc import Callable
from dataclasses import replace

from catalog.models import Product

from .base import DEFAULT_HISTORY_MONTHS, DEFAULT_SEED, DemoPlan, StepResult
from .catalog import categories_seed, products_seed, suppliers_seed
from .complaints import complaints_seed
from .coupons import coupons_seed
from .crm import crm_seed
from .entries import entries_seed
from .figures import churn_seed, customer_stats_seed, inventory_snapshot_seed, lost_items_seed, periodic_tasks_seed
from .history import orders_history_seed
from .logistics import purchase_tasks_seed, receipts_seed, runs_seed, staff_seed
from .people import admin_seed, customers_seed, reps_seed, visitors_seed
from .pictures import product_pictures_seed
from .stock import shipments_seed, stock_seed

Step = Callable[[DemoPlan], StepResult]

# Order matters: products need categories and suppliers, pictures and stock need products, customers
# need reps, visitors need customers, order history needs all of them, entries lead up to the orders.
# Then the warehouse: staff first (a clerk receives, drivers take tasks and runs), receipts before
# purchase tasks (tomorrow's needs are net of the stock just received), runs from the history's packed
# orders.
# The history's figures follow it: the customers' ordering rhythm right after it (the product's
# recompute), its shipments on the stock ledger before yesterday's receipts; last, one churn sweep
# over the finished data, the customers' tags (manual ones from their names, then one run of the
# automatic tags) and today's inventory value snapshot (the turnover report's figures);
# the periodic tasks' rows, so admin › 周期性任务 lists them before beat first starts; a couple of
# complaints on delivered orders (one answered, one overdue);
# coupons issued to some restaurants.
STEPS: list[Step] = [
    admin_seed, categories_seed, suppliers_seed, products_seed, product_pictures_seed, stock_seed, reps_seed,
    customers_seed, visitors_seed, orders_history_seed, customer_stats_seed, shipments_seed, entries_seed, staff_seed,
    receipts_seed, purchase_tasks_seed, runs_seed, churn_seed, lost_items_seed, crm_seed, inventory_snapshot_seed,
    periodic_tasks_seed, complaints_seed, coupons_seed,
]


def demo_seed(*, plan: DemoPlan, on_step: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    results = []
    for step in STEPS:
        started = time.monotonic()
        result = replace(step(plan), seconds=time.monotonic() - started)
        results.append(result)
        if on_step is not None:
            on_step(result)
    return results


def demo_has_products() -> bool:
    return Product.objects.exists()


__all__ = [
    "DEFAULT_HISTORY_MONTHS", "DEFAULT_SEED", "STEPS", "DemoPlan", "StepResult", "demo_has_products", "demo_seed",
]
