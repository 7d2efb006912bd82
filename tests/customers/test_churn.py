import threading
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connections, transaction

from core.errors import Conflict
from customers.churn import (
    churn_sweep,
    customer_order_stats_drift,
    customer_order_stats_recompute,
    customer_record_payment,
    distance_km,
    lapsing_customers_near,
)
from customers.models import ChurnEvent, ChurnSettings, ChurnSnapshot, Customer
from notifications.models import Notification
from tests.factories import CustomerFactory, RepFactory

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The sweep runs at 02:00 Shanghai time = 18:00 UTC the day before.
NIGHT = datetime(2026, 11, 24, 2, 0, tzinfo=SHANGHAI)


def customer_with_history(*paid_days_ago, rep=None, now=NIGHT, **fields):
    """A customer whose paid orders were `paid_days_ago` days before `now` (rhythm via the real path)."""
    customer = CustomerFactory(rep=rep, **fields)
    for days in sorted(paid_days_ago, reverse=True):
        with transaction.atomic():
            customer_record_payment(customer_id=customer.pk, paid_at=now - timedelta(days=days))
    customer.refresh_from_db()
    return customer


def statuses(*customers):
    return [Customer.objects.get(pk=c.pk).status for c in customers]


def test_rhythm_is_kept_at_each_payment():
    customer = customer_with_history(12, 9, 6, 3)
    assert customer.paid_order_count == 4
    assert customer.usual_interval == timedelta(days=3)
    assert customer.last_order_at == NIGHT - timedelta(days=3)


def test_churned_exactly_after_n_days_not_before():
    rep = RepFactory()
    just_over = customer_with_history(60, 30, rep=rep)
    # 29 days 23 hours: not yet churned
    not_yet = CustomerFactory(rep=rep)
    customer_record_payment(customer_id=not_yet.pk, paid_at=NIGHT - timedelta(days=29, hours=23))

    result = churn_sweep(now=NIGHT + timedelta(seconds=1))

    assert statuses(just_over, not_yet) == ["churned", "active"]
    assert result.new_churned == 1


def test_churn_days_come_from_admin_settings():
    rules = ChurnSettings.current()
    rules.churn_days = 10
    rules.save()
    customer = customer_with_history(11)
    churn_sweep(now=NIGHT)
    assert statuses(customer) == ["churned"]


def test_at_risk_follows_the_customers_own_rhythm():
    every_3_days_silent_10 = customer_with_history(19, 16, 13, 10)
    every_3_days_silent_8 = customer_with_history(17, 14, 11, 8)
    fortnightly_silent_20 = customer_with_history(62, 48, 34, 20)
    too_few_orders = customer_with_history(26, 25)

    result = churn_sweep(now=NIGHT)

    assert statuses(every_3_days_silent_10, every_3_days_silent_8, fortnightly_silent_20, too_few_orders) == [
        "at_risk", "active", "active", "active"]
    assert result.new_at_risk == 1


def test_customers_who_never_ordered_are_left_alone():
    never = CustomerFactory()
    churn_sweep(now=NIGHT)
    assert statuses(never) == ["active"]


def test_rerun_the_same_night_changes_and_sends_nothing(django_capture_on_commit_callbacks):
    rep = RepFactory(wecom_user_id="zhangsan")
    churned = customer_with_history(45, 40, rep=rep)
    at_risk = customer_with_history(19, 16, 13, 10, rep=rep)
    with django_capture_on_commit_callbacks(execute=True):
        first = churn_sweep(now=NIGHT)
    notifications = Notification.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        second = churn_sweep(now=NIGHT + timedelta(minutes=30))
    assert (first.new_churned, first.new_at_risk) == (1, 1)
    assert (second.new_churned, second.new_at_risk) == (0, 0)
    assert Notification.objects.count() == notifications == 3  # two inbox lines and one WeCom digest
    assert ChurnEvent.objects.count() == 2
    assert statuses(churned, at_risk) == ["churned", "at_risk"]
    from wechat.models import DevMessage

    assert DevMessage.objects.filter(to="zhangsan").count() == 1


def test_push_content_and_link_to_the_last_order():
    from orders.models import Order
    from tests.factories import VisitorFactory

    rep = RepFactory()
    customer = customer_with_history(40, rep=rep, name="湘味小馆")
    last = Order.objects.create(
        number="26101500000001", customer=customer, visitor=VisitorFactory(customer=customer), rep=rep,
        status="completed", idempotency_key="k-00000001", delivery_date=NIGHT.date(), subtotal=Decimal("100"),
        total=Decimal("100"), restaurant_name="湘味小馆", contact_name="王", phone="1", address="x" * 6,
        expires_at=NIGHT, paid_at=NIGHT - timedelta(days=40))
    churn_sweep(now=NIGHT)
    inbox = Notification.objects.get(recipient_kind="rep", recipient_id=str(rep.pk), channel="inbox")
    assert inbox.title == "已流失：湘味小馆"
    assert inbox.link == f"/rep/customers/{customer.pk}/?order={last.pk}"
    assert inbox.body.startswith("40 天未下单")


def test_the_next_order_reactivates_and_credits_the_rep_assigned_then():
    acquirer, successor = RepFactory(), RepFactory()
    customer = customer_with_history(50, 40, rep=acquirer, acquired_by=acquirer)
    churn_sweep(now=NIGHT)
    Customer.objects.filter(pk=customer.pk).update(rep=successor)

    with transaction.atomic():
        won_back = customer_record_payment(customer_id=customer.pk, paid_at=NIGHT + timedelta(days=1))

    assert won_back is True
    event = ChurnEvent.objects.get(kind="reactivated")
    assert (event.customer_id, event.rep) == (customer.pk, successor)
    assert statuses(customer) == ["active"]


def test_sweep_night_is_the_shanghai_date():
    customer_with_history(45)
    # 16:30 UTC on the 23rd is 00:30 on the 24th in Shanghai.
    result = churn_sweep(now=datetime(2026, 11, 23, 16, 30, tzinfo=ZoneInfo("UTC")))
    assert str(result.night) == "2026-11-24"
    assert ChurnSnapshot.objects.get().night.isoformat() == "2026-11-24"


def test_snapshot_counts():
    customer_with_history(45, 40)
    customer_with_history(19, 16, 13, 10)
    customer_with_history(2, 1)
    churn_sweep(now=NIGHT)
    snapshot = ChurnSnapshot.objects.get()
    assert (snapshot.active, snapshot.at_risk, snapshot.churned, snapshot.new_churned) == (1, 1, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_second_concurrent_sweep_is_refused():
    if connections["default"].vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    ChurnSettings.current()
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                ChurnSettings.objects.select_for_update().get(pk=1)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    holding.wait(10)
    try:
        with pytest.raises(Conflict) as refused:
            churn_sweep(now=NIGHT)
        assert refused.value.code == "sweep_running"
    finally:
        release.set()
        thread.join()
    assert ChurnSnapshot.objects.count() == 0


def test_drift_check_finds_a_customer_whose_figures_were_changed_by_hand():
    from orders.models import Order
    from tests.factories import VisitorFactory

    customer = CustomerFactory()
    with transaction.atomic():
        customer_record_payment(customer_id=customer.pk, paid_at=NIGHT)
    Order.objects.create(
        number="26112400000001", customer=customer, visitor=VisitorFactory(customer=customer), status="paid",
        idempotency_key="k-00000002", delivery_date=NIGHT.date(), subtotal=Decimal("100"), total=Decimal("100"),
        restaurant_name="x", contact_name="王", phone="1", address="x" * 6, expires_at=NIGHT, paid_at=NIGHT)
    assert customer_order_stats_drift() == []
    Customer.objects.filter(pk=customer.pk).update(paid_order_count=5)
    assert [row["customer_id"] for row in customer_order_stats_drift()] == [customer.pk]

    Customer.objects.filter(pk=customer.pk).update(usual_interval=timedelta(days=9))  # the count right, the rhythm not
    assert [row["customer_id"] for row in customer_order_stats_drift()] == [customer.pk]


def test_recompute_rewrites_drifting_rhythm_columns_from_the_orders_and_only_those():
    from orders.models import Order
    from tests.factories import VisitorFactory

    steady, drifting, never, lost = CustomerFactory(), CustomerFactory(), CustomerFactory(), CustomerFactory()
    for n, (customer, days) in enumerate([(steady, 0), (steady, 4), (drifting, 0), (drifting, 2), (drifting, 6)]):
        paid_at = NIGHT - timedelta(days=days)
        Order.objects.create(
            number=f"2611240000{n:04d}", customer=customer, visitor=VisitorFactory(customer=customer), status="paid",
            idempotency_key=f"k-{n:08d}", delivery_date=NIGHT.date(), subtotal=Decimal("100"),
            total=Decimal("100"), restaurant_name="x", contact_name="王", phone="1", address="x" * 6,
            expires_at=paid_at, paid_at=paid_at)
    Customer.objects.filter(pk=steady.pk).update(
        paid_order_count=2, first_order_at=NIGHT - timedelta(days=4), last_order_at=NIGHT,
        usual_interval=timedelta(days=4))
    Customer.objects.filter(pk=lost.pk).update(paid_order_count=3, last_order_at=NIGHT)  # no order behind it
    before = Customer.objects.get(pk=steady.pk).updated_at

    assert customer_order_stats_recompute() == 2

    assert customer_order_stats_drift() == []
    drifting.refresh_from_db()
    assert (drifting.paid_order_count, drifting.first_order_at, drifting.last_order_at, drifting.usual_interval) == (
        3, NIGHT - timedelta(days=6), NIGHT, timedelta(days=3))
    lost.refresh_from_db()
    assert (lost.paid_order_count, lost.last_order_at, lost.usual_interval) == (0, None, None)
    never.refresh_from_db()
    assert never.paid_order_count == 0 and never.last_order_at is None
    assert Customer.objects.get(pk=steady.pk).updated_at == before  # already right: not written
    assert customer_order_stats_recompute() == 0


# Distances and the nearby list

def test_distance_against_known_points():
    # Shenzhen Civic Center (22.5431, 114.0579) to Luohu railway station (22.5320, 114.1180): ~6.3 km.
    assert distance_km(22.5431, 114.0579, 22.5320, 114.1180) == pytest.approx(6.31, abs=0.05)
    # One degree of latitude is ~111.2 km.
    assert distance_km(22.0, 114.0, 23.0, 114.0) == pytest.approx(111.19, abs=0.05)
    assert distance_km(22.5, 114.0, 22.5, 114.0) == 0


def _lapsing(rep, name, lat, lng, status="churned"):
    return CustomerFactory(rep=rep, name=name, latitude=Decimal(lat), longitude=Decimal(lng), status=status)


def test_nearby_lists_my_lapsing_customers_nearest_first():
    me, other = RepFactory(), RepFactory()
    far = _lapsing(me, "远", "22.5600", "114.0579")          # ~1.9 km north
    near = _lapsing(me, "近", "22.5440", "114.0579")         # ~0.1 km
    at_risk = _lapsing(me, "预警", "22.5500", "114.0579", status="at_risk")  # ~0.8 km
    _lapsing(me, "活跃", "22.5432", "114.0579", status="active")
    _lapsing(other, "别人的", "22.5431", "114.0580")
    _lapsing(me, "太远", "22.7000", "114.0579")               # ~17 km

    rows = lapsing_customers_near(rep=me, latitude="22.5431", longitude="114.0579", radius_km=5)

    assert [r["name"] for r in rows] == ["近", "预警", "远"]
    assert rows[0]["distance_km"] == pytest.approx(0.1, abs=0.01)
    assert {r["pk"] for r in rows} == {far.pk, near.pk, at_risk.pk}


def test_nearby_is_bounded_by_count_and_validates_location():
    from core.errors import ValidationFailed

    me = RepFactory()
    for i in range(5):
        _lapsing(me, f"客户{i}", f"22.54{i}0", "114.0579")
    assert len(lapsing_customers_near(rep=me, latitude=22.54, longitude=114.0579, limit=2)) == 2
    with pytest.raises(ValidationFailed):
        lapsing_customers_near(rep=me, latitude="abc", longitude=114)
    with pytest.raises(ValidationFailed):
        lapsing_customers_near(rep=me, latitude=95, longitude=114)
