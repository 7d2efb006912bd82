"""Driver conduct: a manager suspends a driver in one action; a proof of delivery recorded far from
the customer is flagged to managers.

Rules (what a manager or a driver would ask about):

- Suspending (`driver_suspend`, admin › 司机 › 暂停司机): at once the driver's login is switched
  off and every session of it ends (core.sessions), so a phone already signed in is refused on
  its next request and the password no longer opens anything; 排线 skips the driver and choosing
  them is refused (`driver_suspended`, dispatch); every pending stop on their runs that have not
  finished is flagged 待改派 (`needs_reassignment`: admin's stop filter, the run list's count, the
  排线 page). `stops_release_for_reassignment` takes such stops off the run (failed, "司机暂停，
  改派"; an order out for delivery goes back to packed) so the next 排线 gives them to someone else.
  A purchasing driver's purchase tasks still to collect (待提货) lose their driver at once (a
  collected one keeps it: it is their record), and each manager gets an inbox message naming them,
  so they are given to another purchasing driver on admin's 采购任务 page (filter 进货司机: 无) before
  the supplier waits for nobody. The tasks stay unassigned when the suspension is lifted.
- Un-suspending (`driver_unsuspend`) turns the login back on and clears the flags of the stops
  still pending on their runs; the driver signs in again.
- Proof distance: completing a stop sends where the phone was and in which datum: the driver's
  page uses the browser's navigator.geolocation, which answers in WGS-84, and says so; it is
  converted to GCJ-02 (core.geo), the datum of the customer's pin, before anything is compared —
  compared as it came, a driver at the door would be ~550 m "away" in Shenzhen and flagged. The
  distance to the order's pin is `customers.churn.distance_km`, in whole metres.
  Beyond 配送规则's limit (DeliverySettings.proof_distance_limit_m, default 500 m; exactly at the
  limit is not beyond) the stop is flagged `far_from_customer` and each manager gets an inbox
  message, once per stop. No position from the phone, or no pin on the order: the distance is
  unknown and nothing is flagged (the stop shows 无定位).
- Managers: active users who may change drivers (logistics.change_driver) and superusers.
- Locks (seafood_b2b.locks): the Driver, then their runs' Stops, then their open PurchaseTasks, then
  the login's User row, last.
"""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core import geo
from core.errors import Conflict, NotFound, ValidationFailed
from core.inputs import decimal_parse
from core.sessions import user_sessions_end
from customers.churn import distance_km
from notifications.services import notify_many

from .models import DeliveryRun, DeliverySettings, Driver, PurchaseTask, Stop

OPEN_RUNS = (DeliveryRun.Status.PLANNED, DeliveryRun.Status.IN_PROGRESS)
REASSIGN_REASON = "司机暂停，改派"


def managers():
    """Who is told about a driver's conduct: active superusers and staff who may change drivers."""
    return (get_user_model().objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(is_staff=True, user_permissions__codename="change_driver",
                                               user_permissions__content_type__app_label="logistics")
                    | Q(is_staff=True, groups__permissions__codename="change_driver",
                        groups__permissions__content_type__app_label="logistics"))
            .distinct().order_by("pk"))


def _lock_driver(driver_id) -> Driver:
    driver = Driver.objects.select_for_update().filter(pk=driver_id).first()
    if driver is None:
        raise NotFound("司机不存在", code="driver_not_found")
    return driver


def _open_stops(driver: Driver):
    return Stop.objects.filter(run__driver=driver, run__status__in=OPEN_RUNS, status=Stop.Status.PENDING)


def driver_suspend(*, driver_id, actor: str, reason: str = "") -> Driver:
    """Suspend a driver: login off and sessions ended, no new runs, open stops flagged 待改派."""
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        driver = _lock_driver(driver_id)
        if driver.is_suspended:
            raise Conflict(f"{driver.name}已于 {timezone.localtime(driver.suspended_at):%m-%d %H:%M} 被暂停",
                           code="driver_already_suspended")
        driver.suspended_at, driver.suspended_by, driver.suspension_reason = timezone.now(), actor[:60], reason
        driver.save(update_fields=["suspended_at", "suspended_by", "suspension_reason", "updated_at"])
        _open_stops(driver).update(needs_reassignment=True)
        _purchase_tasks_release(driver)
        get_user_model().objects.filter(pk=driver.user_id).update(is_active=False)
        user_sessions_end(user_id=driver.user_id)
    return driver


def _purchase_tasks_release(driver: Driver) -> list[PurchaseTask]:
    """The suspended driver's tasks still to collect lose their driver; managers are told which.
    Locked in id order; one confirmed meanwhile (its lock taken first) is collected and stays."""
    tasks = list(PurchaseTask.objects.select_for_update(of=("self",)).select_related("supplier")
                 .filter(driver=driver, status=PurchaseTask.Status.OPEN).order_by("pk"))
    if not tasks:
        return []
    PurchaseTask.objects.filter(pk__in=[task.pk for task in tasks]).update(driver=None, updated_at=timezone.now())
    tasks.sort(key=lambda task: (task.for_date, task.supplier.name, task.pk))
    named = "、".join(f"{task.for_date.month}月{task.for_date.day}日 {task.supplier.name}" for task in tasks[:10])
    body = (f"进货司机{driver.name}已被暂停，{len(tasks)} 个待提货的采购任务已取消分配，请重新分配："
            f"{named}{' 等' if len(tasks) > 10 else ''}。")
    link = reverse("admin:logistics_purchasetask_changelist") + "?status__exact=open&driver__isnull=True"
    moment = int(driver.suspended_at.timestamp())
    notify_many([{"event_key": f"driver:{driver.pk}:suspended:{moment}:purchase", "recipient_kind": "staff",
                  "recipient_id": user.pk, "channel": "inbox", "template": "purchase_driver_suspended",
                  "title": "采购任务待重新分配", "body": body, "link": link}
                 for user in managers()])
    return tasks


def driver_unsuspend(*, driver_id, actor: str) -> Driver:
    """Lift a suspension: the login works again; stops still on their runs are theirs again."""
    with transaction.atomic():
        driver = _lock_driver(driver_id)
        if not driver.is_suspended:
            raise Conflict(f"{driver.name}没有被暂停", code="driver_not_suspended")
        driver.suspended_at, driver.suspended_by, driver.suspension_reason = None, "", ""
        driver.save(update_fields=["suspended_at", "suspended_by", "suspension_reason", "updated_at"])
        _open_stops(driver).update(needs_reassignment=False)
        get_user_model().objects.filter(pk=driver.user_id).update(is_active=True)
    return driver


def stops_release_for_reassignment(*, stop_ids, actor: str) -> int:
    """Take flagged stops off their suspended driver's runs so the next 排线 reassigns the orders."""
    from orders.models import Order
    from orders.services import order_transition

    released = 0
    for stop_id in sorted(int(pk) for pk in stop_ids):
        with transaction.atomic():
            run_id = Stop.objects.filter(pk=stop_id).values_list("run_id", flat=True).first()
            if run_id is None:
                continue
            run = DeliveryRun.objects.select_for_update().get(pk=run_id)
            stop = Stop.objects.select_for_update().get(pk=stop_id)
            if not stop.needs_reassignment or stop.status != Stop.Status.PENDING:
                continue
            order = Order.objects.select_for_update().get(pk=stop.order_id)
            stop.status, stop.failure_reason = Stop.Status.FAILED, REASSIGN_REASON
            stop.needs_reassignment, stop.completed_at = False, timezone.now()
            stop.save(update_fields=["status", "failure_reason", "needs_reassignment", "completed_at"])
            if order.status == Order.Status.OUT_FOR_DELIVERY:
                order_transition(order=order, to_status=Order.Status.PACKED, actor=actor, note=REASSIGN_REASON)
            if not run.stops.filter(status=Stop.Status.PENDING).exists():
                run.status = DeliveryRun.Status.DONE
                run.save(update_fields=["status", "updated_at"])
            released += 1
    return released


# ---------------------------------------------------------------------------------------------
# Where the proof was recorded.


def proof_position(latitude, longitude, *, datum: str = geo.GCJ02) -> tuple[Decimal, Decimal] | None:
    """The phone's position as sent with the proof, in GCJ-02 degrees whatever datum it came in
    (`gcj02`: wx.getLocation's; `wgs84`: a browser's navigator.geolocation, converted by
    core.geo), or None when not sent."""
    datum = (datum or geo.GCJ02).strip().lower()
    if datum not in geo.DATUMS:
        raise ValidationFailed("签收位置的坐标系只能是 gcj02 或 wgs84", code="proof_position_invalid")
    if latitude in (None, "") and longitude in (None, ""):
        return None
    if latitude in (None, "") or longitude in (None, ""):
        raise ValidationFailed("签收位置须同时有纬度和经度", code="proof_position_invalid")
    lat = decimal_parse(latitude, label="签收位置纬度", limit=Decimal("1000"), code="proof_position_invalid")
    lng = decimal_parse(longitude, label="签收位置经度", limit=Decimal("1000"), code="proof_position_invalid")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationFailed("签收位置超出经纬度范围", code="proof_position_invalid")
    if datum != geo.GCJ02:
        lat, lng = (Decimal(repr(value)) for value in geo.to_gcj02(float(lat), float(lng), datum=datum))
    return lat.quantize(Decimal("0.000001")), lng.quantize(Decimal("0.000001"))


def proof_distance_m(*, order, position) -> int | None:
    """Metres from the phone to the order's pin; None if either is unknown."""
    if position is None or order.latitude is None or order.longitude is None:
        return None
    km = distance_km(float(position[0]), float(position[1]), float(order.latitude), float(order.longitude))
    return round(km * 1000)


def proof_is_far(*, distance_m: int | None, limit_m: int) -> bool:
    """Beyond the limit (at it is not); an unknown distance is never far."""
    return distance_m is not None and distance_m > limit_m


def proof_far_notify(*, stop: Stop, order, driver: Driver, distance_m: int, limit_m: int) -> None:
    """Each manager's inbox: the stop, the driver and how far; once per stop (the event key)."""
    link = f"/admin/logistics/stop/{stop.pk}/change/"
    body = (f"{driver.name} 在距客户定位 {distance_m} 米处完成订单 {order.number} 的签收"
            f"（上限 {limit_m} 米），请核实。")
    notify_many([{"event_key": f"stop:{stop.pk}:proof_far", "recipient_kind": "staff", "recipient_id": user.pk,
                  "channel": "inbox", "template": "proof_far", "title": "签收位置异常", "body": body, "link": link}
                 for user in managers()])


def proof_limit_m() -> int:
    return DeliverySettings.current().proof_distance_limit_m
