"""Seeding steps that bring the derived figures in line with the seeded rows, through the product's
own services rather than a second copy of their rules:

- each restaurant's ordering rhythm (order count, first and last order, usual interval) recomputed
  from its paid orders (customers.churn.customer_order_stats_recompute), so the nightly drift check
  finds nothing and the churn sweep has the columns it reads;
- one churn sweep at the seeding moment (customers.churn.churn_sweep): churned and at-risk (预警)
  customers, their reps' alerts, and the churn dashboard's first snapshot;
- today's inventory value snapshot (logistics.reports.inventory_value_snapshot) for the turnover report.

All three are idempotent: a rerun corrects nothing, finds nobody new and overwrites today's values.
"""

from django.utils import timezone

from customers.churn import churn_sweep, customer_order_stats_recompute
from customers.models import Customer
from logistics.models import InventoryValueSnapshot
from logistics.reports import inventory_value_snapshot

from .base import DemoPlan, StepResult


def customer_stats_seed(plan: DemoPlan) -> StepResult:
    corrected = customer_order_stats_recompute()
    return StepResult("客户下单节奏", corrected, Customer.objects.filter(paid_order_count__gt=0).count() - corrected)


def churn_seed(plan: DemoPlan) -> StepResult:
    result = churn_sweep(now=plan.now or timezone.now())
    return StepResult("流失扫描", result.new_churned + result.new_at_risk,
                      Customer.objects.lapsing().count() - result.new_churned - result.new_at_risk)


def inventory_snapshot_seed(plan: DemoPlan) -> StepResult:
    day = timezone.localdate(plan.now or timezone.now())
    existing = InventoryValueSnapshot.objects.filter(day=day).count()
    written = inventory_value_snapshot(day=day)
    return StepResult("库存金额快照", written - existing, existing)
