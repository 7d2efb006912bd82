"""Driver conduct: a manager suspends a driver in one action (sessions ended at once, no new runs,
open stops flagged for reassignment; un-suspending restores access), and a proof of delivery
recorded beyond 配送规则's distance from the customer is flagged to managers."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.models import Session

from core.errors import Conflict, ValidationFailed
from customers.churn import distance_km
from logistics.conduct import driver_suspend, driver_unsuspend, proof_is_far
from logistics.delivery import run_start, stop_complete
from logistics.dispatch import runs_build
from logistics.models import DeliveryRun, DeliverySettings, Driver, Stop
from notifications.models import Notification
from orders.models import Order
from tests.factories import DeliveryDriverFactory, SupplierFactory, delivery_order
from tests.logistics.test_delivery import jpeg

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)
PIN = ("22.540000", "114.060000")  # delivery_order's pin


@pytest.fixture(autouse=True)
def _frozen_clock_and_media(settings, tmp_path):
    settings.MEDIA_ROOT = settings.PRIVATE_MEDIA_ROOT = tmp_path
    settings.WAREHOUSE_LATITUDE, settings.WAREHOUSE_LONGITUDE = (22.6089, 114.1136)
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def driver():
    return DeliveryDriverFactory(name="张师傅")


@pytest.fixture
def runs(driver):
    """Today's run on the road (one stop delivered, one pending) and tomorrow's planned run."""
    today = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    done, pending = delivery_order(delivery_date=DAY), delivery_order(delivery_date=DAY)
    Stop.objects.create(run=today, order=done, sequence=1)
    Stop.objects.create(run=today, order=pending, sequence=2)
    run_start(driver=driver, run_id=today.pk)
    stop_complete(driver=driver, stop_id=today.stops.get(sequence=1).pk, proof_kind="signed", signed_by="王",
                  photo=jpeg())
    tomorrow = DeliveryRun.objects.create(driver=driver, delivery_date=DAY + timedelta(days=1))
    Stop.objects.create(run=tomorrow, order=delivery_order(delivery_date=DAY + timedelta(days=1)), sequence=1)
    return today, tomorrow


def manager(username="manager", **extra):
    user = User.objects.create_user(username, password="pw-manager-1", is_staff=True, **extra)
    user.user_permissions.add(Permission.objects.get(codename="change_driver"))
    return user


# --- suspension -----------------------------------------------------------------------------

def test_a_signed_in_drivers_next_request_is_refused_once_suspended(client, driver, runs):
    client.force_login(driver.user)
    assert client.get("/ops/delivery/").status_code == 200
    bystander = DeliveryDriverFactory()
    other = type(client)()
    other.force_login(bystander.user)

    driver_suspend(driver_id=driver.pk, actor="manager", reason="客户投诉")

    response = client.get("/ops/delivery/")
    assert response.status_code == 302 and response["Location"].startswith("/ops/login/")
    assert client.post(f"/ops/delivery/runs/{runs[1].pk}/start/").status_code == 302  # to the login
    assert other.get("/ops/delivery/").status_code == 200  # someone else's session lives on
    sessions = [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()]
    assert str(driver.user_id) not in sessions and str(bystander.user_id) in sessions
    refused = client.post("/ops/login/", {"username": driver.user.username, "password": "pw-delivery-1"})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    driver.refresh_from_db()
    assert (driver.is_suspended, driver.suspended_by, driver.suspension_reason) == (True, "manager", "客户投诉")
    runs[1].refresh_from_db()
    assert runs[1].status == DeliveryRun.Status.PLANNED  # the refused start changed nothing


def test_open_stops_are_flagged_for_reassignment_and_shown_to_staff(admin_client, driver, runs):
    today, tomorrow = runs

    driver_suspend(driver_id=driver.pk, actor="manager")

    flagged = set(Stop.objects.filter(needs_reassignment=True).values_list("run_id", "sequence"))
    assert flagged == {(today.pk, 2), (tomorrow.pk, 1)}  # the delivered stop is not
    listed = admin_client.get("/admin/logistics/stop/?needs_reassignment__exact=1").content.decode()
    assert listed.count('class="action-select"') == 2
    build = admin_client.get("/admin/logistics/deliveryrun/build/").content.decode()
    assert "2 个站点待改派" in build and "已暂停的司机不派单：张师傅" in build
    assert "张师傅" not in build.split("送货司机")[-1].split("优化时长")[0]  # not offered to choose


def test_dispatch_skips_a_suspended_driver_and_refuses_choosing_one(driver):
    other = DeliveryDriverFactory(name="李师傅")
    orders = [delivery_order(delivery_date=DAY, latitude=f"{22.55 + 0.01 * i:.6f}") for i in range(3)]
    driver_suspend(driver_id=driver.pk, actor="manager")

    with pytest.raises(ValidationFailed) as refused:
        runs_build(delivery_date=DAY, driver_ids=[driver.pk, other.pk], time_limit_s=0.3)
    assert refused.value.code == "driver_suspended" and "张师傅" in refused.value.message
    assert not Stop.objects.exists()

    result = runs_build(delivery_date=DAY, time_limit_s=0.3)
    assert result.added == 3
    assert set(DeliveryRun.objects.values_list("driver_id", flat=True)) == {other.pk}
    assert {s.order_id for s in Stop.objects.all()} == {o.pk for o in orders}


def test_released_stops_go_to_another_driver_at_the_next_build(admin_client, driver, runs):
    today, _ = runs
    other = DeliveryDriverFactory(name="李师傅")
    driver_suspend(driver_id=driver.pk, actor="manager")
    flagged = list(Stop.objects.filter(needs_reassignment=True).values_list("pk", flat=True))

    admin_client.post("/admin/logistics/stop/", {"action": "release_for_reassignment",
                                                 "_selected_action": [str(pk) for pk in flagged]})

    pending = Stop.objects.get(run=today, sequence=2)
    assert (pending.status, pending.failure_reason, pending.needs_reassignment) == ("failed", "司机暂停，改派", False)
    assert Order.objects.get(pk=pending.order_id).status == Order.Status.PACKED
    result = runs_build(delivery_date=DAY, time_limit_s=0.3)
    assert result.added == 1
    assert Stop.objects.get(order_id=pending.order_id, status="pending").run.driver_id == other.pk


def test_the_admin_action_suspends_and_unsuspend_restores_access(admin_client, client, driver, runs):
    response = admin_client.post("/admin/logistics/driver/", {"action": "suspend", "_selected_action": [driver.pk]})
    assert response.status_code == 302
    driver.refresh_from_db()
    assert driver.is_suspended and not driver.user.is_active
    assert "已暂停" in admin_client.get("/admin/logistics/driver/?suspended=yes").content.decode()

    with pytest.raises(Conflict):
        driver_suspend(driver_id=driver.pk, actor="again")
    admin_client.post("/admin/logistics/driver/", {"action": "unsuspend", "_selected_action": [driver.pk]})

    driver.refresh_from_db()
    assert not driver.is_suspended and driver.user.is_active
    assert not Stop.objects.filter(needs_reassignment=True).exists()
    signed_in = client.post("/ops/login/", {"username": driver.user.username, "password": "pw-delivery-1"})
    assert signed_in.status_code == 302 and client.get("/ops/delivery/").status_code == 200
    with pytest.raises(Conflict):
        driver_unsuspend(driver_id=driver.pk, actor="again")


# --- proof far from the customer ------------------------------------------------------------

def _position_at(metres_north: float) -> tuple[str, str]:
    lat = float(PIN[0]) + metres_north / 111195.0
    return f"{lat:.6f}", PIN[1]


def _metres(position) -> int:
    return round(distance_km(float(position[0]), float(position[1]), float(PIN[0]), float(PIN[1])) * 1000)


@pytest.fixture
def started(driver):
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    for k in (1, 2):
        Stop.objects.create(run=run, order=delivery_order(delivery_date=DAY), sequence=k)
    run_start(driver=driver, run_id=run.pk)
    return run


def test_the_default_limit_is_500_metres_and_at_the_limit_is_not_far(db):
    assert DeliverySettings.current().proof_distance_limit_m == 500
    assert (proof_is_far(distance_m=500, limit_m=500), proof_is_far(distance_m=501, limit_m=500)) == (False, True)
    assert proof_is_far(distance_m=None, limit_m=500) is False


@pytest.mark.parametrize("beyond", [False, True])
def test_a_proof_at_the_threshold_edge(started, driver, beyond):
    boss, staff_without = manager(), User.objects.create_user("kefu", is_staff=True)
    position = _position_at(520)
    metres = _metres(position)
    settings_row = DeliverySettings.current()
    settings_row.proof_distance_limit_m = metres - 1 if beyond else metres
    settings_row.save()
    stop = started.stops.get(sequence=1)

    stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王", photo=jpeg(),
                  latitude=position[0], longitude=position[1])

    stop.refresh_from_db()
    assert (stop.proof_distance_m, stop.far_from_customer) == (metres, beyond)
    inbox = Notification.objects.filter(template="proof_far")
    if beyond:
        assert [(n.recipient_kind, n.recipient_id, n.channel) for n in inbox] == [("staff", str(boss.pk), "inbox")]
        assert f"距客户定位 {metres} 米" in inbox[0].body and "张师傅" in inbox[0].body
        assert str(staff_without.pk) not in {n.recipient_id for n in inbox}
    else:
        assert not inbox.exists()


def test_a_far_proof_is_in_the_admin_filter(admin_client, started, driver):
    position = _position_at(800)
    stop = started.stops.get(sequence=1)
    stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王", photo=jpeg(),
                  latitude=position[0], longitude=position[1])
    near = started.stops.get(sequence=2)
    stop_complete(driver=driver, stop_id=near.pk, proof_kind="signed", signed_by="李", photo=jpeg(),
                  latitude=PIN[0], longitude=PIN[1])

    listed = admin_client.get("/admin/logistics/stop/?far_from_customer__exact=1").content.decode()
    assert f"{_metres(position)} 米（异常）" in listed and listed.count('class="action-select"') == 1
    assert Stop.objects.get(pk=near.pk).proof_distance_m == 0


def test_without_a_position_the_distance_is_unknown_and_nothing_is_flagged(started, driver):
    stop = started.stops.get(sequence=1)
    stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王", photo=jpeg())
    stop.refresh_from_db()
    assert (stop.proof_distance_m, stop.far_from_customer, stop.proof_latitude) == (None, False, None)


@pytest.mark.parametrize("latitude, longitude", [("abc", "114.06"), ("95", "114.06"), ("22.54", ""),
                                                 ("1e30", "114.06"), ("22.54", "NaN")])
def test_a_bad_position_is_refused_and_changes_nothing(started, driver, latitude, longitude):
    stop = started.stops.get(sequence=1)
    with pytest.raises(ValidationFailed) as refused:
        stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王", photo=jpeg(),
                      latitude=latitude, longitude=longitude)
    assert refused.value.code == "proof_position_invalid"
    stop.refresh_from_db()
    assert stop.status == "pending" and Order.objects.get(pk=stop.order_id).status == "out_for_delivery"


def test_the_stop_page_sends_the_position_with_the_proof(client, started, driver):
    client.force_login(driver.user)
    stop = started.stops.get(sequence=1)
    position = _position_at(900)
    page = client.get(f"/ops/delivery/stops/{stop.pk}/").content.decode()
    assert 'name="latitude"' in page and 'name="longitude"' in page
    assert 'name="coordinate_system" value="wgs84"' in page  # what navigator.geolocation answers in
    response = client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王", "photo": jpeg(), "latitude": position[0], "longitude": position[1],
        "coordinate_system": "wgs84"})
    assert response.status_code == 302
    assert Stop.objects.get(pk=stop.pk).far_from_customer is True


# One door in Futian, Shenzhen (the Civic Centre): the customer's pin as WeChat/Amap give it (GCJ-02)
# and where a phone's GPS puts the same spot (WGS-84), 606 m apart (core.geo; tests/core/test_geo.py).
DOOR_GCJ02 = ("22.540379", "114.062979")
DOOR_WGS84 = ("22.543096", "114.057865")


@pytest.fixture
def shenzhen_run(driver):
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    for k in (1, 2):
        Stop.objects.create(run=run, sequence=k,
                            order=delivery_order(delivery_date=DAY, latitude=DOOR_GCJ02[0], longitude=DOOR_GCJ02[1]))
    run_start(driver=driver, run_id=run.pk)
    return run


def test_a_browser_position_at_the_door_is_converted_and_not_flagged(client, shenzhen_run, driver):
    """The page's position is WGS-84: taken as GCJ-02 it would be 606 m from the pin and flagged
    (the false alarm this conversion removes); converted, the driver is at the door."""
    client.force_login(driver.user)
    at_the_door, taken_as_is = shenzhen_run.stops.get(sequence=1), shenzhen_run.stops.get(sequence=2)

    response = client.post(f"/ops/delivery/stops/{at_the_door.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王", "photo": jpeg(), "latitude": DOOR_WGS84[0],
        "longitude": DOOR_WGS84[1], "coordinate_system": "wgs84"})
    stop_complete(driver=driver, stop_id=taken_as_is.pk, proof_kind="signed", signed_by="李", photo=jpeg(),
                  latitude=DOOR_WGS84[0], longitude=DOOR_WGS84[1], coordinate_system="gcj02")

    assert response.status_code == 302
    at_the_door.refresh_from_db()
    assert at_the_door.proof_distance_m <= 2 and at_the_door.far_from_customer is False
    assert (str(at_the_door.proof_latitude), str(at_the_door.proof_longitude)) == DOOR_GCJ02  # stored in GCJ-02
    taken_as_is.refresh_from_db()
    assert 590 <= taken_as_is.proof_distance_m <= 620 and taken_as_is.far_from_customer is True
    assert Notification.objects.filter(template="proof_far").count() == 0  # nobody to tell: no manager here


def test_an_unknown_coordinate_system_is_refused_and_changes_nothing(client, shenzhen_run, driver):
    client.force_login(driver.user)
    stop = shenzhen_run.stops.get(sequence=1)
    response = client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王", "photo": jpeg(), "latitude": DOOR_WGS84[0],
        "longitude": DOOR_WGS84[1], "coordinate_system": "bd09"})
    assert response.status_code == 400 and "坐标系" in response.content.decode()
    stop.refresh_from_db()
    assert stop.status == "pending" and Order.objects.get(pk=stop.order_id).status == "out_for_delivery"


def test_a_login_switched_back_on_by_hand_still_opens_nothing_while_suspended(client, driver, runs):
    driver_suspend(driver_id=driver.pk, actor="manager")
    User.objects.filter(pk=driver.user_id).update(is_active=True)
    client.force_login(driver.user)
    response = client.get("/ops/delivery/")
    assert response.status_code == 403 and "账号已被暂停" in response.content.decode()


# --- a purchasing driver ----------------------------------------------------------------------

def test_a_suspended_purchasing_drivers_tasks_to_collect_are_released_and_managers_told(admin_client):
    """Open tasks lose their driver (a manager gives them to another); a collected one keeps it,
    another driver's are untouched; each manager gets one inbox message naming the tasks; lifting
    the suspension gives nothing back; a second suspension is refused and changes nothing."""
    from logistics.models import PurchaseTask
    from tests.factories import PurchasingDriverFactory, SupplierFactory

    boss = manager()
    buyer, colleague = PurchasingDriverFactory(name="李师傅"), PurchasingDriverFactory(name="赵师傅")
    fish, shrimp, crab = SupplierFactory(name="黄沙鱼档"), SupplierFactory(name="南澳虾场"), SupplierFactory(name="蟹行")
    tomorrow = DAY + timedelta(days=1)
    open_today = PurchaseTask.objects.create(supplier=fish, driver=buyer, for_date=DAY)
    open_tomorrow = PurchaseTask.objects.create(supplier=shrimp, driver=buyer, for_date=tomorrow)
    collected = PurchaseTask.objects.create(supplier=crab, driver=buyer, for_date=DAY,
                                            status=PurchaseTask.Status.COLLECTED)
    theirs = PurchaseTask.objects.create(supplier=crab, driver=colleague, for_date=tomorrow)

    driver_suspend(driver_id=buyer.pk, actor="manager", reason="缺勤")

    tasks = {task.pk: task.driver_id for task in PurchaseTask.objects.all()}
    assert tasks == {open_today.pk: None, open_tomorrow.pk: None, collected.pk: buyer.pk, theirs.pk: colleague.pk}
    told = Notification.objects.filter(template="purchase_driver_suspended")
    admin = User.objects.get(username="admin")  # admin_client's superuser is a manager too
    assert sorted(told.values_list("recipient_id", flat=True)) == sorted([str(boss.pk), str(admin.pk)])
    inbox = told.get(recipient_id=str(boss.pk))
    assert inbox.recipient_kind == "staff" and inbox.channel == "inbox"
    assert "李师傅" in inbox.body and "2 个待提货" in inbox.body
    assert "11月24日 黄沙鱼档" in inbox.body and "11月25日 南澳虾场" in inbox.body and "蟹行" not in inbox.body
    listed = admin_client.get(inbox.link)
    assert listed.status_code == 200 and "黄沙鱼档" in listed.content.decode() and "蟹行" not in listed.content.decode()

    with pytest.raises(Conflict):
        driver_suspend(driver_id=buyer.pk, actor="manager")
    assert told.count() == 2
    driver_unsuspend(driver_id=buyer.pk, actor="manager")
    assert PurchaseTask.objects.get(pk=open_today.pk).driver_id is None  # reassigned by hand, not given back
    assert not PurchaseTask.objects.filter(driver=buyer, status=PurchaseTask.Status.OPEN).exists()


def test_a_purchasing_driver_without_open_tasks_is_suspended_without_a_message():
    from tests.factories import PurchasingDriverFactory

    manager()
    buyer = PurchasingDriverFactory()
    driver_suspend(driver_id=buyer.pk, actor="manager")
    assert Driver.objects.get(pk=buyer.pk).is_suspended
    assert not Notification.objects.filter(template="purchase_driver_suspended").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_suspension_racing_the_drivers_confirmation_leaves_one_of_the_two_outcomes():
    """The driver confirms a pick-up while a manager suspends them, on two connections at once, five
    times: either the task is collected and keeps its driver (the confirmation came first), or it is
    open without a driver and the confirmation finds no task of theirs. Never a collected task
    without its driver, an open one still theirs, or an error."""
    from core.errors import NotFound
    from logistics.models import PurchaseTask
    from logistics.purchasing import CollectedLine, purchase_task_confirm
    from tests.concurrency import run_in_threads
    from tests.factories import PurchasingDriverFactory
    from tests.logistics.test_purchasing import _task

    manager()
    outcomes = set()
    for round_ in range(5):
        buyer = PurchasingDriverFactory()
        task = _task(supplier=SupplierFactory(), driver=buyer, for_date=DAY)
        line = task.lines.get()

        def act(index, buyer=buyer, task=task, line=line):
            if index == 0:
                return driver_suspend(driver_id=buyer.pk, actor="manager")
            try:
                return purchase_task_confirm(driver=buyer, task_id=task.pk, lines={line.pk: CollectedLine(quantity="3")})
            except NotFound:
                return "not theirs any more"

        results = run_in_threads(2, act)
        assert not any(isinstance(result, Exception) for result in results), results
        task.refresh_from_db()
        if task.status == PurchaseTask.Status.COLLECTED:
            assert task.driver_id == buyer.pk and results[1] != "not theirs any more"
            outcomes.add("collected first")
        else:
            assert task.status == PurchaseTask.Status.OPEN and task.driver_id is None
            assert results[1] == "not theirs any more"
            outcomes.add("suspended first")
        assert Driver.objects.get(pk=buyer.pk).is_suspended
    assert outcomes  # which came first is the scheduler's choice; both are checked when they happen
