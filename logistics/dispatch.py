"""Delivery runs: which delivery driver takes which packed orders, and in what order.

Two layers:
- pure routing (logistics.routing: `route_plan`, `route_ortools`, `route_nearest`): coordinates and
  capacities in, routes out, no database, so bench/dispatch.py measures exactly what `runs_build` uses;
- `runs_build`: reads the day's packed orders and the drivers, plans outside any transaction
  (the solver may search for seconds), then writes the stops in one short transaction that first
  checks nothing it planned on has changed meanwhile.

Rules kept (docs/design.md §9, pitfalls of other systems):
- existing stops are never wiped or reordered: a driver's PLANNED run gets new stops after its
  own; a run in progress or done is never touched, and its driver gets no second run that day;
- only packed orders that are on no live stop are taken, so delivered, cancelled or already
  planned orders can never be added;
- a restaurant's orders for the day at the same pin (an add-on is a new order for the same
  delivery date) are routed as one job: the same run, consecutive stops (the driver's page shows
  them together); the group counts as one stop against the driver's stop limit;
- the solver never "returns nothing": every stop may be dropped at a high penalty, so an
  over-full day still yields runs, and the dropped orders are reported; if the solver finds no
  solution at all within its time limit, nearest-neighbour routes are used instead.

Time windows: no model field holds a customer's receiving hours yet. `Job.time_window` (minutes
after the vehicles leave) is honoured by the solver when given (a "time" dimension; a stop whose
window cannot be met is dropped like an over-capacity one); `runs_build` passes none today. To
add them, read the new field with the candidates in `runs_build` and fill `Job.time_window` where
the jobs are made (minutes after the planned departure), and give the dropped reason a case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from customers.churn import distance_km

from .models import DeliveryRun, Driver, Stop
from .routing import (
    METHOD_NEAREST,
    METHOD_ORTOOLS,
    Job,
    Vehicle,
    route_plan,
    warehouse_location,
)

logger = logging.getLogger(__name__)
# A line with neither an actual nor a nominal weight is loaded at this estimate per sale unit.
# It only serves the vehicle's weight limit; 斤 and kg are exact, packages are typical cartons.
UNIT_WEIGHT_ESTIMATE_KG = {
    "斤": Decimal("0.5"), "kg": Decimal("1"), "箱": Decimal("10"), "袋": Decimal("1"), "盒": Decimal("0.5"),
    "包": Decimal("0.5"), "条": Decimal("0.5"), "只": Decimal("0.5"),
}
DEFAULT_UNIT_WEIGHT_KG = Decimal("1")



def line_weight_kg(*, unit: str, quantity: Decimal, packed_quantity: Decimal | None,
                   actual_weight: Decimal | None, nominal_weight: Decimal | None) -> Decimal:
    """What a line weighs on the van: the packed weight if weighed, else nominal × quantity, else
    the estimate for its unit. Weights on lines are in jin (斤 = 0.5 kg)."""
    if actual_weight is not None:
        return actual_weight / 2
    quantity = packed_quantity if packed_quantity is not None else quantity
    if nominal_weight:
        return quantity * nominal_weight / 2
    return quantity * UNIT_WEIGHT_ESTIMATE_KG.get(unit, DEFAULT_UNIT_WEIGHT_KG)


def order_weights_kg(order_ids) -> dict:
    from orders.models import OrderLine

    weights: dict = {}
    rows = OrderLine.objects.filter(order_id__in=list(order_ids)).values_list(
        "order_id", "unit", "quantity", "packed_quantity", "actual_weight", "nominal_weight")
    for order_id, unit, quantity, packed_quantity, actual_weight, nominal_weight in rows.iterator(chunk_size=5000):
        weights[order_id] = weights.get(order_id, Decimal("0")) + line_weight_kg(
            unit=unit, quantity=quantity, packed_quantity=packed_quantity, actual_weight=actual_weight,
            nominal_weight=nominal_weight)
    return weights


def _live_stop_exists():
    return Exists(Stop.objects.filter(order=OuterRef("pk")).exclude(status=Stop.Status.FAILED))


def orders_to_dispatch(*, delivery_date: date):
    """Packed orders of the day that are on no live stop: what a run may take."""
    from orders.models import Order

    return Order.objects.filter(delivery_date=delivery_date, status=Order.Status.PACKED).filter(~_live_stop_exists())


@dataclass
class BuildResult:
    delivery_date: date
    method: str | None = None  # None: there was nothing to route
    runs: list = field(default_factory=list)  # DeliveryRun rows that got stops in this build
    added: int = 0
    dropped: dict = field(default_factory=dict)  # order number → why it is on no run
    without_location: list = field(default_factory=list)  # order numbers put last, having no pin
    skipped_drivers: list = field(default_factory=list)  # drivers whose run has already left

    def summary(self) -> str:
        parts = [f"{self.delivery_date} 排线：新增 {self.added} 个站点，涉及 {len(self.runs)} 条线路"]
        if self.method:
            parts.append("（OR-Tools 优化）" if self.method == METHOD_ORTOOLS else "（就近顺序）")
        if self.without_location:
            parts.append(f"；{len(self.without_location)} 单无定位，排在线路末尾：{'、'.join(self.without_location)}")
        if self.dropped:
            parts.append(f"；{len(self.dropped)} 单未排入：" + "、".join(
                f"{number}（{reason}）" for number, reason in self.dropped.items()))
        if self.skipped_drivers:
            parts.append(f"；已出发的司机未追加：{'、'.join(self.skipped_drivers)}")
        return "".join(parts)


@dataclass
class _Slot:
    """One driver as the planner sees them: their run of the day (if any) and what room is left."""

    driver: Driver
    run: DeliveryRun | None
    fingerprint: tuple | None
    live: list  # (order id, lat, lng) of the run's live stops, in sequence
    next_sequence: int
    stops_left: int
    weight_left_kg: Decimal

    @property
    def start(self) -> tuple[float, float] | None:
        located = [(float(lat), float(lng)) for _, lat, lng in self.live if lat is not None and lng is not None]
        return located[-1] if located else None


def _active_delivery_drivers(driver_ids) -> list[Driver]:
    """The delivery drivers who may get stops: in post, with a login, not suspended (logistics.conduct)."""
    drivers = Driver.objects.assignable(Driver.Kind.DELIVERY)
    if driver_ids is None:
        return list(drivers.order_by("pk"))
    wanted = {int(pk) for pk in driver_ids}
    suspended = list(Driver.objects.filter(pk__in=wanted, suspended_at__isnull=False).order_by("pk")
                     .values_list("name", flat=True))
    if suspended:
        raise ValidationFailed(f"司机已被暂停，不能派单：{'、'.join(suspended)}", code="driver_suspended",
                               details={"drivers": suspended})
    found = list(drivers.filter(pk__in=wanted).order_by("pk"))
    missing = wanted - {driver.pk for driver in found}
    if missing:
        raise ValidationFailed("所选司机不是在职的送货司机", code="not_delivery_driver",
                               details={"driver_ids": sorted(missing)})
    return found


def _runs_of_day(driver_ids, delivery_date: date, *, lock: bool = False):
    """The drivers' runs of the day (driver id → run) and each run's stops in sequence."""
    runs = DeliveryRun.objects.filter(driver_id__in=list(driver_ids), delivery_date=delivery_date).order_by("pk")
    if lock:
        runs = runs.select_for_update()
    runs = {run.driver_id: run for run in runs}
    stops: dict[int, list[tuple]] = {run.pk: [] for run in runs.values()}
    rows = Stop.objects.filter(run_id__in=list(stops)).order_by("run_id", "sequence").values_list(
        "run_id", "sequence", "status", "order_id", "order__latitude", "order__longitude")
    for run_id, *stop in rows:
        stops[run_id].append(tuple(stop))
    return runs, stops


def _fingerprint(run: DeliveryRun | None, stops: list[tuple]) -> tuple | None:
    if run is None:
        return None
    return run.pk, run.status, tuple((sequence, status, order_id) for sequence, status, order_id, _, _ in stops)


def _slots(drivers: list[Driver], delivery_date: date, result: BuildResult, weights: dict) -> list[_Slot]:
    runs, stops_by_run = _runs_of_day([driver.pk for driver in drivers], delivery_date)
    live_ids = [stop[2] for stops in stops_by_run.values() for stop in stops if stop[1] != Stop.Status.FAILED]
    weights.update(order_weights_kg(live_ids))
    slots = []
    for driver in drivers:
        run = runs.get(driver.pk)
        if run is not None and run.status != DeliveryRun.Status.PLANNED:
            result.skipped_drivers.append(driver.name)  # a run on the road is never changed
            continue
        stops = stops_by_run.get(run.pk, []) if run else []
        live = [(order_id, lat, lng) for _, status, order_id, lat, lng in stops if status != Stop.Status.FAILED]
        slots.append(_Slot(
            driver=driver, run=run, fingerprint=_fingerprint(run, stops), live=live,
            next_sequence=max((stop[0] for stop in stops), default=0) + 1,
            stops_left=driver.max_stops - len(live),
            weight_left_kg=driver.max_weight_kg - sum((weights.get(order_id, Decimal("0")) for order_id, _, _ in live),
                                                      Decimal("0")),
        ))
    return slots


def runs_build(*, delivery_date: date, driver_ids=None, time_limit_s: float = 5) -> BuildResult:
    """Put the day's packed, unplanned orders on the delivery drivers' runs, in driving order.

    `driver_ids`: only these drivers (all must be active delivery drivers); None: all of them.
    Safe to run again: later orders are appended to the drivers' planned runs.
    """
    result = BuildResult(delivery_date=delivery_date)
    drivers = _active_delivery_drivers(driver_ids)
    rows = (orders_to_dispatch(delivery_date=delivery_date).order_by("number")
            .values_list("pk", "number", "latitude", "longitude", "customer_id"))
    candidates, together = {}, {}
    for pk, number, lat, lng, customer_id in rows:
        candidates[pk] = (number, lat, lng)
        if lat is not None and lng is not None:
            # A restaurant's add-on orders for the day (same pin) are one job: one run, consecutive stops.
            together.setdefault((customer_id, lat, lng), []).append(pk)
    groups = {pks[0]: pks for pks in together.values()}  # the first order's id stands for the group
    weights = order_weights_kg(candidates)
    slots = _slots(drivers, delivery_date, result, weights)
    if not candidates:
        return result

    room = {i: slot for i, slot in enumerate(slots) if slot.stops_left > 0 and slot.weight_left_kg > 0}
    jobs = [Job(key=lead, lat=float(candidates[lead][1]), lng=float(candidates[lead][2]),
                weight_kg=float(sum((weights.get(pk, 0) for pk in pks), Decimal("0"))))
            for lead, pks in groups.items()]
    vehicles = [Vehicle(key=i, max_stops=slot.stops_left, max_weight_kg=float(slot.weight_left_kg), start=slot.start)
                for i, slot in room.items()]
    if jobs and vehicles:
        plan = route_plan(depot=warehouse_location(), jobs=jobs, vehicles=vehicles, time_limit_s=time_limit_s)
        routes = {i: [pk for lead in plan.routes.get(i, []) for pk in groups[lead]] for i in room}
        result.method = plan.method
        unserved = [pk for lead in plan.dropped for pk in groups[lead]]
    else:
        routes = {i: [] for i in room}
        unserved = [pk for job in jobs for pk in groups[job.key]]
    reason = "超出运力（站点数或载重）" if room else "没有可排的送货司机"
    for pk in unserved:
        result.dropped[candidates[pk][0]] = reason

    # Orders without a map pin cannot be routed: the roomiest run takes each, last.
    for pk, (number, lat, lng) in candidates.items():
        if lat is not None and lng is not None:
            continue
        fits = [i for i, slot in room.items()
                if slot.stops_left - len(routes[i]) > 0
                and slot.weight_left_kg - sum((weights.get(o, 0) for o in routes[i]), Decimal("0"))
                >= weights.get(pk, 0)]
        if not fits:
            result.dropped[number] = reason
            continue
        roomiest = max(fits, key=lambda i: (room[i].stops_left - len(routes[i]), -i))
        routes[roomiest].append(pk)
        result.without_location.append(number)

    _runs_write(result=result, slots=room, routes=routes, candidates=candidates)
    return result


def _runs_write(*, result: BuildResult, slots: dict, routes: dict, candidates: dict) -> None:
    """Write the planned stops, if nothing they were planned on has changed meanwhile."""
    from orders.models import Order

    used = {i: pks for i, pks in routes.items() if pks}
    if not used:
        return
    wanted = [pk for pks in used.values() for pk in pks]
    with transaction.atomic():
        # Same lock order as everywhere that touches runs: drivers, then runs, then orders.
        driver_ids = sorted(slots[i].driver.pk for i in used)
        list(Driver.objects.filter(pk__in=driver_ids).order_by("pk").select_for_update().values_list("pk"))
        runs, stops_by_run = _runs_of_day(driver_ids, result.delivery_date, lock=True)
        for i in used:
            run = runs.get(slots[i].driver.pk)
            if _fingerprint(run, stops_by_run.get(run.pk, []) if run else []) != slots[i].fingerprint:
                raise Conflict("排线期间线路有变动，请重新排线", code="runs_changed")
        locked = list(Order.objects.filter(pk__in=wanted, status=Order.Status.PACKED).order_by("pk")
                      .select_for_update().values_list("pk", flat=True))
        # Read after the locks are held, so a stop another build has just committed is seen.
        taken = set(Stop.objects.filter(order_id__in=locked).exclude(status=Stop.Status.FAILED)
                    .values_list("order_id", flat=True))
        free = set(locked) - taken
        for pk in wanted:
            if pk not in free:
                result.dropped[candidates[pk][0]] = "排线期间订单状态已变化"
                if candidates[pk][0] in result.without_location:
                    result.without_location.remove(candidates[pk][0])

        now = timezone.now()
        new_runs = [DeliveryRun(driver=slots[i].driver, delivery_date=result.delivery_date, planned_by=result.method
                                or METHOD_NEAREST) for i in used if slots[i].run is None and
                    any(pk in free for pk in used[i])]
        DeliveryRun.objects.bulk_create(new_runs)
        run_of = {run.driver_id: run for run in [*(slot.run for slot in slots.values() if slot.run), *new_runs]}
        stops, touched = [], []
        for i, pks in used.items():
            pks = [pk for pk in pks if pk in free]
            if not pks:
                continue
            slot = slots[i]
            run = run_of[slot.driver.pk]
            stops.extend(Stop(run=run, order_id=pk, sequence=slot.next_sequence + k) for k, pk in enumerate(pks))
            points = [(lat, lng) for _, lat, lng in slot.live] + [candidates[pk][1:] for pk in pks]
            run.total_distance_km = _run_distance_km(points)
            run.planned_by = result.method or run.planned_by or METHOD_NEAREST
            run.updated_at = now
            touched.append(run)
            result.added += len(pks)
        Stop.objects.bulk_create(stops)
        DeliveryRun.objects.bulk_update(touched, ["planned_by", "total_distance_km", "updated_at"])
    result.runs = touched


def _run_distance_km(points) -> Decimal:
    """From the warehouse through the run's located stops in order and back."""
    depot = warehouse_location()
    path = [depot, *((float(lat), float(lng)) for lat, lng in points if lat is not None and lng is not None), depot]
    km = sum(distance_km(a[0], a[1], b[0], b[1]) for a, b in zip(path, path[1:]))
    return Decimal(str(round(km, 2))).quantize(Decimal("0.01"))
