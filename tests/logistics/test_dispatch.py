"""Building delivery runs: capacity, one run per driver and day, appending without wiping,
only packed orders on no live stop, dropped orders reported, the nearest-neighbour fallback."""

from datetime import date
from decimal import Decimal

import pytest

from core.errors import ValidationFailed
from logistics import dispatch, routing
from logistics.dispatch import runs_build
from logistics.routing import Job, Vehicle, route_nearest, route_ortools, route_plan
from logistics.models import DeliveryRun, Driver, Stop
from orders.models import Order
from tests.concurrency import run_in_threads
from tests.factories import DeliveryDriverFactory, delivery_order

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 24)
FAST = 0.3  # seconds of search: plenty for a handful of stops, and the tests stay quick
DEPOT = (22.6089, 114.1136)


@pytest.fixture(autouse=True)
def _warehouse(settings):
    settings.WAREHOUSE_LATITUDE, settings.WAREHOUSE_LONGITUDE = DEPOT


def _orders(n, **kwargs):
    # Spread east of the warehouse, 1-2 km apart, so routes are easy to reason about.
    return [delivery_order(delivery_date=DAY, latitude=f"{22.55 + 0.01 * (i % 5):.6f}",
                           longitude=f"{114.00 + 0.015 * i:.6f}", **kwargs) for i in range(n)]


def _stops(run):
    return list(run.stops.order_by("sequence").values_list("sequence", "order_id", "status"))


def test_runs_respect_the_stop_capacity_and_each_driver_gets_one_run():
    drivers = [DeliveryDriverFactory(max_stops=3), DeliveryDriverFactory(max_stops=3)]
    orders = _orders(5)

    result = runs_build(delivery_date=DAY, time_limit_s=FAST)

    runs = list(DeliveryRun.objects.filter(delivery_date=DAY))
    assert sorted(run.driver_id for run in runs) == sorted(driver.pk for driver in drivers)
    assert all(run.stops.count() <= 3 for run in runs)
    assert set(Stop.objects.values_list("order_id", flat=True)) == {order.pk for order in orders}
    assert result.added == 5 and result.dropped == {} and result.method == "ortools"
    for run in runs:
        assert [s for s, _, _ in _stops(run)] == list(range(1, run.stops.count() + 1))
        assert run.planned_by == "ortools" and run.total_distance_km > 0

    again = runs_build(delivery_date=DAY, time_limit_s=FAST)
    assert again.added == 0 and again.runs == []
    assert DeliveryRun.objects.filter(delivery_date=DAY).count() == 2
    assert Stop.objects.count() == 5


def test_runs_respect_the_weight_capacity():
    DeliveryDriverFactory(max_stops=25, max_weight_kg=Decimal("30"))
    orders = _orders(5, weight_jin="20")  # 10 kg each: three fit in 30 kg

    result = runs_build(delivery_date=DAY, time_limit_s=FAST)

    run = DeliveryRun.objects.get()
    assert run.stops.count() == 3
    assert len(result.dropped) == 2
    on_run = set(run.stops.values_list("order__number", flat=True))
    assert on_run | set(result.dropped) == {order.number for order in orders}
    assert set(result.dropped.values()) == {"超出运力（站点数或载重）"}


def test_line_weight_uses_actual_then_nominal_weight_then_the_units_estimate():
    weigh = dispatch.line_weight_kg
    assert weigh(unit="袋", quantity=Decimal("2"), packed_quantity=Decimal("2"), actual_weight=Decimal("5.20"),
                 nominal_weight=Decimal("2.5")) == Decimal("2.60")
    assert weigh(unit="袋", quantity=Decimal("3"), packed_quantity=Decimal("2"), actual_weight=None,
                 nominal_weight=Decimal("2.5")) == Decimal("2.5")
    assert weigh(unit="箱", quantity=Decimal("3"), packed_quantity=None, actual_weight=None,
                 nominal_weight=None) == Decimal("30")
    assert weigh(unit="斤", quantity=Decimal("7"), packed_quantity=None, actual_weight=None,
                 nominal_weight=None) == Decimal("3.5")


def test_rebuilding_appends_after_existing_stops_without_wiping_them():
    driver = DeliveryDriverFactory()
    first = _orders(2)
    runs_build(delivery_date=DAY, time_limit_s=FAST)
    run = DeliveryRun.objects.get()
    before = list(run.stops.order_by("sequence").values_list("pk", "sequence", "order_id"))

    later = _orders(2)
    result = runs_build(delivery_date=DAY, time_limit_s=FAST)

    assert [r.pk for r in result.runs] == [run.pk] and result.added == 2
    assert DeliveryRun.objects.filter(driver=driver, delivery_date=DAY).count() == 1
    after = list(run.stops.order_by("sequence").values_list("pk", "sequence", "order_id"))
    assert after[:2] == before  # same rows, same order
    assert {order_id for _, _, order_id in before} == {order.pk for order in first}
    assert [seq for _, seq, _ in after[2:]] == [3, 4]
    assert {order_id for _, _, order_id in after[2:]} == {order.pk for order in later}


def test_only_packed_orders_on_no_live_stop_are_taken():
    busy_driver, driver = DeliveryDriverFactory(), DeliveryDriverFactory()
    packed = _orders(1)[0]
    others = {status: delivery_order(delivery_date=DAY, status=status)
              for status in ("paid", "packing", "out_for_delivery", "delivered", "completed", "cancelled")}
    other_day = delivery_order(delivery_date=date(2026, 11, 25))
    # Already on a planned run of another driver: stays there.
    planned = delivery_order(delivery_date=DAY)
    busy_run = DeliveryRun.objects.create(driver=busy_driver, delivery_date=DAY)
    Stop.objects.create(run=busy_run, order=planned, sequence=1)
    # Failed on an earlier run: free again.
    retried = delivery_order(delivery_date=DAY)
    old_run = DeliveryRun.objects.create(driver=busy_driver, delivery_date=date(2026, 11, 23),
                                         status=DeliveryRun.Status.DONE)
    Stop.objects.create(run=old_run, order=retried, sequence=1, status=Stop.Status.FAILED, failure_reason="关门")

    result = runs_build(delivery_date=DAY, driver_ids=[driver.pk], time_limit_s=FAST)

    run = DeliveryRun.objects.get(driver=driver, delivery_date=DAY)
    assert set(run.stops.values_list("order_id", flat=True)) == {packed.pk, retried.pk}
    assert result.added == 2 and result.dropped == {}
    assert _stops(busy_run) == [(1, planned.pk, "pending")]
    assert not Stop.objects.filter(order__in=[*others.values(), other_day]).exists()
    assert Order.objects.get(pk=others["delivered"].pk).status == "delivered"


def test_a_run_that_has_left_is_never_touched_and_its_driver_gets_no_second_run():
    driver = DeliveryDriverFactory(name="李师傅")
    on_road = delivery_order(delivery_date=DAY, status="out_for_delivery")
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY, status=DeliveryRun.Status.IN_PROGRESS)
    Stop.objects.create(run=run, order=on_road, sequence=1)
    waiting = _orders(2)

    result = runs_build(delivery_date=DAY, time_limit_s=FAST)

    assert result.skipped_drivers == ["李师傅"]
    assert result.added == 0
    assert set(result.dropped) == {order.number for order in waiting}
    assert set(result.dropped.values()) == {"没有可排的送货司机"}
    assert _stops(run) == [(1, on_road.pk, "pending")]
    assert DeliveryRun.objects.filter(driver=driver).count() == 1


def test_more_orders_than_capacity_still_yields_runs_and_reports_the_rest():
    DeliveryDriverFactory(max_stops=2)
    DeliveryDriverFactory(max_stops=1)
    orders = _orders(6)

    result = runs_build(delivery_date=DAY, time_limit_s=FAST)

    assert Stop.objects.count() == 3 and result.added == 3
    assert len(result.dropped) == 3
    planned = set(Stop.objects.values_list("order__number", flat=True))
    assert planned.isdisjoint(result.dropped)
    assert planned | set(result.dropped) == {order.number for order in orders}
    assert "3 单未排入" in result.summary()


@pytest.mark.parametrize("force", ["time_limit_zero", "solver_returns_nothing"])
def test_when_the_solver_finds_nothing_the_runs_are_nearest_neighbour(force, monkeypatch):
    DeliveryDriverFactory(max_stops=3)
    DeliveryDriverFactory(max_stops=3)
    orders = _orders(5)
    limit = FAST
    if force == "time_limit_zero":
        limit = 0
    else:
        monkeypatch.setattr(routing, "route_ortools", lambda **kwargs: None)

    result = runs_build(delivery_date=DAY, time_limit_s=limit)

    assert result.method == "nearest" and result.added == 5
    assert set(Stop.objects.values_list("order_id", flat=True)) == {order.pk for order in orders}
    runs = DeliveryRun.objects.filter(delivery_date=DAY)
    assert {run.planned_by for run in runs} == {"nearest"}
    assert all(run.stops.count() <= 3 for run in runs)


def test_orders_without_a_map_pin_go_last_and_are_reported():
    DeliveryDriverFactory()
    located = _orders(2)
    lost = delivery_order(delivery_date=DAY, latitude=None, longitude=None)

    result = runs_build(delivery_date=DAY, time_limit_s=FAST)

    run = DeliveryRun.objects.get()
    assert _stops(run)[-1] == (3, lost.pk, "pending")
    assert {order_id for _, order_id, _ in _stops(run)[:2]} == {order.pk for order in located}
    assert result.without_location == [lost.number]
    assert result.dropped == {}


def test_stops_follow_the_road_out_and_back():
    DeliveryDriverFactory()
    # On a line heading west of the warehouse: the best tour visits them in line order (or reverse).
    line = [delivery_order(delivery_date=DAY, latitude="22.608900", longitude=f"{114.10 - 0.02 * k:.6f}")
            for k in (2, 0, 3, 1)]

    runs_build(delivery_date=DAY, time_limit_s=FAST)

    visited = [order_id for _, order_id, _ in _stops(DeliveryRun.objects.get())]
    by_distance = [line[1].pk, line[3].pk, line[0].pk, line[2].pk]
    assert visited in (by_distance, by_distance[::-1])
    run = DeliveryRun.objects.get()
    # Warehouse → 3 segments along the line → back: 2 × the farthest point, about 2 × 7.6 km.
    assert Decimal("14.5") < run.total_distance_km < Decimal("16.5")


def test_only_active_delivery_drivers_can_be_chosen():
    purchasing = DeliveryDriverFactory(kind=Driver.Kind.PURCHASING)
    left = DeliveryDriverFactory(is_active=False)
    _orders(1)

    for driver in (purchasing, left):
        with pytest.raises(ValidationFailed) as refused:
            runs_build(delivery_date=DAY, driver_ids=[driver.pk], time_limit_s=FAST)
        assert refused.value.details == {"driver_ids": [driver.pk]}
    assert not DeliveryRun.objects.exists() and not Stop.objects.exists()


@pytest.mark.parametrize("n", [3, 30])
def test_building_runs_takes_a_fixed_number_of_queries(n, django_assert_max_num_queries):
    for _ in range(3):
        DeliveryDriverFactory(max_stops=12)
    _orders(n)
    existing = DeliveryDriverFactory(max_stops=40)
    run = DeliveryRun.objects.create(driver=existing, delivery_date=DAY)
    Stop.objects.create(run=run, order=delivery_order(delivery_date=DAY), sequence=1)

    with django_assert_max_num_queries(15):
        result = runs_build(delivery_date=DAY, time_limit_s=FAST)
    assert result.added == n


# --- Pure routing (what bench/dispatch.py measures) ---


def _ring(n, radius=0.05):
    import math

    return [Job(key=k, lat=DEPOT[0] + radius * math.sin(k), lng=DEPOT[1] + radius * math.cos(k), weight_kg=5)
            for k in range(n)]


@pytest.mark.parametrize("method", ["ortools", "nearest"])
def test_routes_respect_every_vehicles_capacity(method):
    jobs = _ring(20)
    vehicles = [Vehicle(key="a", max_stops=4, max_weight_kg=100), Vehicle(key="b", max_stops=10, max_weight_kg=22)]

    if method == "ortools":
        plan = route_ortools(depot=DEPOT, jobs=jobs, vehicles=vehicles, time_limit_s=FAST)
    else:
        plan = route_nearest(depot=DEPOT, jobs=jobs, vehicles=vehicles)

    assert len(plan.routes["a"]) == 4
    assert len(plan.routes["b"]) == 4  # 22 kg: four jobs of 5 kg
    served = plan.routes["a"] + plan.routes["b"]
    assert len(set(served)) == 8 and sorted(served + plan.dropped) == list(range(20))
    assert plan.total_distance_km == pytest.approx(sum(plan.distance_km.values()))


def test_solver_beats_or_matches_nearest_neighbour():
    jobs = _ring(40, radius=0.08)
    vehicles = [Vehicle(key=v, max_stops=15, max_weight_kg=1000) for v in range(3)]

    solved = route_ortools(depot=DEPOT, jobs=jobs, vehicles=vehicles, time_limit_s=1)
    baseline = route_nearest(depot=DEPOT, jobs=jobs, vehicles=vehicles)

    assert solved.dropped == [] and baseline.dropped == []
    assert solved.total_distance_km <= baseline.total_distance_km


def test_conflicting_time_windows_drop_a_stop_instead_of_failing():
    # Both must be reached within 5 minutes of leaving, 2 km apart: one vehicle can do only one.
    jobs = [Job(key="near", lat=DEPOT[0] + 0.005, lng=DEPOT[1], time_window=(0, 5)),
            Job(key="far", lat=DEPOT[0] - 0.015, lng=DEPOT[1], time_window=(0, 5)),
            Job(key="any", lat=DEPOT[0], lng=DEPOT[1] + 0.02)]

    plan = route_plan(depot=DEPOT, jobs=jobs, vehicles=[Vehicle(key=0, max_stops=10, max_weight_kg=100)],
                      time_limit_s=FAST)

    assert plan.method == "ortools"
    assert len(plan.dropped) == 1 and plan.dropped[0] in ("near", "far")
    assert "any" in plan.routes[0]


def test_a_vehicle_with_stops_already_starts_from_its_last_one():
    far = (DEPOT[0], DEPOT[1] - 0.3)  # about 31 km west
    jobs = [Job(key="west", lat=far[0], lng=far[1] - 0.01), Job(key="home", lat=DEPOT[0] + 0.01, lng=DEPOT[1])]
    vehicles = [Vehicle(key="fresh", max_stops=1, max_weight_kg=100),
                Vehicle(key="out_west", max_stops=1, max_weight_kg=100, start=far)]

    plan = route_ortools(depot=DEPOT, jobs=jobs, vehicles=vehicles, time_limit_s=FAST)

    assert plan.routes == {"fresh": ["home"], "out_west": ["west"]}


# --- Admin ---


def test_admin_builds_runs_for_a_date_and_reports_what_did_not_fit(admin_client):
    chosen = DeliveryDriverFactory(max_stops=2)
    DeliveryDriverFactory()  # not chosen: gets nothing
    orders = _orders(3)

    page = admin_client.get("/admin/logistics/deliveryrun/build/")
    assert page.status_code == 200 and chosen.name in page.content.decode()
    response = admin_client.post("/admin/logistics/deliveryrun/build/", {
        "delivery_date": DAY.isoformat(), "drivers": [chosen.pk], "time_limit_s": "1"}, follow=True)

    run = DeliveryRun.objects.get()
    assert run.driver == chosen and run.stops.count() == 2
    html = response.content.decode()
    assert "新增 2 个站点" in html and "1 单未排入" in html
    dropped = next(order for order in orders if not Stop.objects.filter(order=order).exists())
    assert dropped.number in html


def test_admin_cannot_add_or_delete_runs_and_stops_are_read_only(admin_client):
    run = DeliveryRun.objects.create(driver=DeliveryDriverFactory(), delivery_date=DAY)
    Stop.objects.create(run=run, order=delivery_order(delivery_date=DAY), sequence=1)
    assert admin_client.get("/admin/logistics/deliveryrun/add/").status_code == 403
    assert admin_client.post(f"/admin/logistics/deliveryrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"/admin/logistics/deliveryrun/{run.pk}/change/").status_code == 200
    assert DeliveryRun.objects.filter(pk=run.pk).exists() and Stop.objects.count() == 1


@pytest.mark.parametrize("n", [2, 20])
def test_admin_run_and_stop_lists_take_a_fixed_number_of_queries(admin_client, n, django_assert_max_num_queries):
    for k in range(n):
        run = DeliveryRun.objects.create(driver=DeliveryDriverFactory(), delivery_date=DAY)
        Stop.objects.create(run=run, order=delivery_order(delivery_date=DAY), sequence=1)
    with django_assert_max_num_queries(12):
        assert admin_client.get("/admin/logistics/deliveryrun/").status_code == 200
    with django_assert_max_num_queries(12):
        assert admin_client.get("/admin/logistics/stop/").status_code == 200


# --- Real concurrency (PostgreSQL, threads, committed transactions) ---


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_builds_at_once_never_put_an_order_on_two_runs(monkeypatch):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    first, second = DeliveryDriverFactory(), DeliveryDriverFactory()
    orders = _orders(4)
    # Both builds plan the same four orders before either writes: the second must notice.
    both_planned = threading.Barrier(2)
    real_plan = dispatch.route_plan

    def plan_then_wait(**kwargs):
        plan = real_plan(**kwargs)
        both_planned.wait(30)
        return plan

    monkeypatch.setattr(dispatch, "route_plan", plan_then_wait)

    results = run_in_threads(2, lambda i: runs_build(delivery_date=DAY, driver_ids=[(first, second)[i].pk],
                                                  time_limit_s=FAST))

    assert not any(isinstance(result, Exception) for result in results), results
    live = list(Stop.objects.exclude(status="failed").values_list("order_id", flat=True))
    assert sorted(live) == sorted(order.pk for order in orders)  # each once
    assert sorted(result.added for result in results) == [0, 4]
    loser = next(result for result in results if result.added == 0)
    assert set(loser.dropped.values()) == {"排线期间订单状态已变化"}
