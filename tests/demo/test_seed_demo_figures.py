"""The demo data agrees with itself: customers' ordering rhythm, churn statuses and the churn
dashboard, the stock ledger and the turnover report, on a freshly seeded database."""

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.utils import timezone

import demo.logistics as demo_logistics
from demo.seed import DemoPlan, demo_seed
from customers.churn import churn_status_counts, churn_sweep, customer_order_stats_drift
from customers.models import ChurnEvent, ChurnSnapshot, Customer
from logistics.models import InventoryValueSnapshot, Stock, StockMove
from logistics.reports import inventory_turnover
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderLine

# 04:00 in Shanghai; two months of history, as `make run` seeds.
NOW = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
PLAN = DemoPlan(products=200, suppliers=3, reps=2, customers=200, history_months=2, now=NOW)
SHIPPED = ("packed", "out_for_delivery", "delivered", "completed")


@pytest.fixture(autouse=True)
def _quick_routing(monkeypatch):
    monkeypatch.setattr(demo_logistics, "ROUTING_SECONDS", 0.2)


def db_counts() -> dict[str, int]:
    """What the database says, counted directly (not through the dashboard's function)."""
    by_status = dict(Customer.objects.filter(paid_order_count__gt=0).values_list("status").annotate(n=Count("pk")))
    return {"active": by_status.get("active", 0), "at_risk": by_status.get("at_risk", 0),
            "churned": by_status.get("churned", 0),
            "never_ordered": Customer.objects.filter(paid_order_count=0).count()}


def assert_dashboard_agrees(client, night):
    counts = db_counts()
    assert churn_status_counts() == counts
    assert sum(counts.values()) == Customer.objects.count()
    snapshot = ChurnSnapshot.objects.get(night=night)
    assert (snapshot.active, snapshot.at_risk, snapshot.churned) == (
        counts["active"], counts["at_risk"], counts["churned"])
    page = client.get("/admin/customers/churnsnapshot/").content.decode()
    assert (f"活跃 <strong>{counts['active']}</strong> · 预警 <strong>{counts['at_risk']}</strong> ·\n"
            f"    流失 <strong>{counts['churned']}</strong>") in page


@pytest.mark.django_db
def test_seeded_customers_carry_their_ordering_rhythm_and_churn_was_swept_once(client):
    demo_seed(plan=PLAN)
    night = timezone.localdate(NOW)

    # The rhythm columns are what the orders say: the nightly drift check finds nothing.
    assert customer_order_stats_drift() == []
    paid = Order.objects.filter(paid_at__isnull=False)
    assert Customer.objects.filter(paid_order_count__gt=0).count() == paid.values("customer").distinct().count()
    assert not Customer.objects.filter(paid_order_count__gte=2, usual_interval__isnull=True).exists()
    assert not Customer.objects.filter(paid_order_count__gt=0, first_order_at__isnull=True).exists()

    # Swept once, at the seeding moment: churned and at-risk customers, each with its event and its rep told.
    churned, at_risk = Customer.objects.filter(status="churned"), Customer.objects.filter(status="at_risk")
    assert churned.count() > 0 and at_risk.count() > 0
    assert set(ChurnEvent.objects.filter(kind="churned", night=night).values_list("customer", flat=True)) == set(
        churned.values_list("pk", flat=True))
    assert set(ChurnEvent.objects.filter(kind="at_risk", night=night).values_list("customer", flat=True)) == set(
        at_risk.values_list("pk", flat=True))
    assert not churned.filter(last_order_at__gte=NOW - timedelta(days=30)).exists()
    assert not at_risk.filter(last_order_at__lt=NOW - timedelta(days=30)).exists()
    assert not Customer.objects.filter(status="active", last_order_at__lt=NOW - timedelta(days=30)).exists()
    assert list(ChurnSnapshot.objects.values_list("night", flat=True)) == [night]

    # The dashboard agrees with the database after the seeding sweep, after a rerun the same night
    # (nothing new), and after the next nights' sweeps.
    client.force_login(get_user_model().objects.get(username="admin"))
    assert_dashboard_agrees(client, night)
    again = churn_sweep(now=NOW + timedelta(minutes=5))
    assert (again.new_churned, again.new_at_risk) == (0, 0)
    assert_dashboard_agrees(client, night)
    for days in (1, 10):
        later = churn_sweep(now=NOW + timedelta(days=days))
        assert later.new_churned + later.new_at_risk > 0
        assert_dashboard_agrees(client, timezone.localdate(NOW + timedelta(days=days)))


@pytest.mark.django_db
def test_the_turnover_report_shows_the_seeded_shipments_and_receipts():
    demo_seed(plan=PLAN)
    today = timezone.localdate(NOW)

    # Every packed order's lines left the warehouse on its delivery day: one shipment row per SKU and day.
    wanted = defaultdict(lambda: 0)
    for product_id, day, quantity in (OrderLine.objects.filter(order__status__in=SHIPPED)
                                      .values_list("product_id", "order__delivery_date", "quantity")):
        wanted[(product_id, day)] += quantity
    moves = StockMove.objects.filter(kind="shipment").values_list(
        "stock__product_id", "created_at", "on_hand_delta", "unit_cost", "stock__average_cost")
    shipped = {(product_id, timezone.localdate(at)): -delta for product_id, at, delta, _, _ in moves}
    assert shipped == dict(wanted) and shipped
    assert all(cost > 0 for *_, cost, _ in moves)
    # The ledger still explains every stock row; the shelves keep what the opening count left.
    assert stock_ledger_drift() == []
    assert not Stock.objects.filter(average_cost=0).exists()

    rows = inventory_turnover(start=today - timedelta(days=29), end=today)
    overall = rows[-1]
    cost_in_period = sum(
        -delta * cost for product_id, at, delta, cost, _ in moves
        if today - timedelta(days=29) <= timezone.localdate(at) <= today)
    assert overall.cost_of_goods_shipped == cost_in_period.quantize(overall.cost_of_goods_shipped) > 0
    value_now = InventoryValueSnapshot.objects.get(day=today, category__isnull=True).value
    assert value_now > 0 and overall.average_inventory == value_now
    assert overall.turnover > 0 and overall.days_of_inventory > 0
    assert all(row.cost_of_goods_shipped > 0 for row in rows[:-1])
    assert sum(row.cost_of_goods_shipped for row in rows[:-1]) == overall.cost_of_goods_shipped
    # Yesterday's receipts are in the value at their cost.
    received = StockMove.objects.filter(kind="receipt").aggregate(n=Sum("on_hand_delta"))["n"]
    assert received > 0


@pytest.mark.django_db
def test_a_rerun_corrects_nothing_ships_nothing_twice_and_sweeps_nobody_new():
    demo_seed(plan=PLAN)
    moves = StockMove.objects.count()
    statuses = dict(Customer.objects.values_list("pk", "status"))
    rhythm = list(Customer.objects.order_by("pk").values_list("paid_order_count", "last_order_at", "usual_interval"))

    results = {result.label: result for result in demo_seed(plan=PLAN)}

    assert results["客户下单节奏"].created == 0 and results["历史出库"].created == 0
    assert results["流失扫描"].created == 0
    assert StockMove.objects.count() == moves
    assert dict(Customer.objects.values_list("pk", "status")) == statuses
    assert list(Customer.objects.order_by("pk").values_list(
        "paid_order_count", "last_order_at", "usual_interval")) == rhythm


@pytest.mark.django_db
def test_the_beat_schedule_is_in_the_database_and_an_admins_edit_survives_a_rerun():
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask

    demo_seed(plan=replace(PLAN, customers=20, products=40, history_months=0))

    rows = {task.name: task for task in PeriodicTask.objects.all()}
    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(rows)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert rows[name].task == entry["task"] and rows[name].enabled
    assert rows["orders-expire-unpaid"].interval.every == 60 and rows["churn-sweep"].crontab.hour == "2"
    PeriodicTask.objects.filter(name="churn-sweep").update(enabled=False)

    results = {result.label: result for result in demo_seed(plan=replace(PLAN, customers=20, products=40,
                                                                          history_months=0))}

    assert (results["周期任务"].created, results["周期任务"].existing) == (0, len(settings.CELERY_BEAT_SCHEDULE))
    assert not PeriodicTask.objects.get(name="churn-sweep").enabled
