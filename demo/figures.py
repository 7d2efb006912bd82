"""Seeding steps that bring the derived figures in line with the seeded rows, through the product's
own services rather than a second copy of their rules:

- each restaurant's ordering rhythm (order count, first and last order, usual interval) recomputed
  from its paid orders (customers.churn.customer_order_stats_recompute), so the nightly drift check
  finds nothing and the churn sweep has the columns it reads;
- one churn sweep at the seeding moment (customers.churn.churn_sweep): churned and at-risk (预警)
  customers, their reps' alerts, and the churn dashboard's first snapshot;
- one lost-item sweep at the same moment (usuals.lost.lost_items_sweep): products restaurants stopped
  buying, in their reps' inboxes and admin's 断购提醒;
- today's inventory value snapshot (logistics.reports.inventory_value_snapshot) for the turnover report;
- the beat schedule's rows in admin › 周期性任务 (django-celery-beat), so they are there before beat starts.

All are idempotent: a rerun corrects nothing, finds nobody new, overwrites today's values and
leaves existing periodic tasks as they are.
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


def lost_items_seed(plan: DemoPlan) -> StepResult:
    from usuals.lost import lost_items_sweep
    from usuals.models import LostItemAlert

    result = lost_items_sweep(now=plan.now or timezone.now())
    return StepResult("断购扫描", result.new_alerts, LostItemAlert.objects.count() - result.new_alerts)


def inventory_snapshot_seed(plan: DemoPlan) -> StepResult:
    day = timezone.localdate(plan.now or timezone.now())
    existing = InventoryValueSnapshot.objects.filter(day=day).count()
    written = inventory_value_snapshot(day=day)
    return StepResult("库存金额快照", written - existing, existing)


def periodic_tasks_seed(plan: DemoPlan) -> StepResult:
    """The beat schedule (settings.CELERY_BEAT_SCHEDULE) as rows of admin › 周期性任务, written the way
    django-celery-beat's DatabaseScheduler writes them when beat starts; rows already there (perhaps
    edited in admin) are left alone."""
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import ModelEntry

    from seafood_b2b.celery import app

    present = set(PeriodicTask.objects.filter(name__in=list(settings.CELERY_BEAT_SCHEDULE)).values_list("name",
                                                                                                      flat=True))
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        if name not in present:
            ModelEntry.from_entry(name, app=app, **entry)
    return StepResult("周期任务", len(settings.CELERY_BEAT_SCHEDULE) - len(present), len(present))
