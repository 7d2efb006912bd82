"""The delivery driver's app: own runs only, phones masked everywhere, 出发, proof of delivery
(who signed or where left, plus a fresh photo), failed deliveries, the delivery message once."""

import json
from datetime import date, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from core.errors import Conflict, NotFound, ValidationFailed
from logistics import delivery
from logistics.delivery import mask_phone, photo_check, run_start, stop_complete, stop_fail
from logistics.dispatch import runs_build
from logistics.models import DeliveryRun, Stop
from notifications.models import Notification
from orders.models import Order, OrderEvent
from tests.factories import DeliveryDriverFactory, DeliveryUserFactory, delivery_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)
PHONE = "13812341234"


@pytest.fixture(autouse=True)
def _frozen_clock_and_media(settings, tmp_path):
    settings.MEDIA_ROOT = settings.PRIVATE_MEDIA_ROOT = tmp_path  # proof photos are private files
    with time_machine.travel(NOW, tick=False):
        yield


def jpeg(*, taken_at: datetime | None = None, offset: str | None = None, size=(64, 48)) -> SimpleUploadedFile:
    """A real JPEG; with EXIF DateTimeOriginal (camera local time) when `taken_at` is given."""
    image = Image.new("RGB", size, (30, 120, 200))
    exif = Image.Exif()
    if taken_at is not None:
        exif.get_ifd(0x8769)[36867] = taken_at.astimezone(SHANGHAI if offset is None else taken_at.tzinfo) \
            .strftime("%Y:%m:%d %H:%M:%S")
        if offset:
            exif.get_ifd(0x8769)[36881] = offset
    buffer = BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return SimpleUploadedFile("photo.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def driver():
    return DeliveryDriverFactory(name="张师傅")


@pytest.fixture
def run(driver):
    """A planned run of two stops for today."""
    orders = [delivery_order(delivery_date=DAY, phone=PHONE, restaurant_name="湘味小馆"),
              delivery_order(delivery_date=DAY, latitude="22.560000", longitude="114.080000")]
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    for k, order in enumerate(orders, start=1):
        Stop.objects.create(run=run, order=order, sequence=k)
    return run


@pytest.fixture
def started(run, driver):
    run_start(driver=driver, run_id=run.pk)
    run.refresh_from_db()
    return run


def _first_stop(run):
    return run.stops.select_related("order").get(sequence=1)


def _snapshot(stop):
    stop.refresh_from_db()
    stop.order.refresh_from_db()
    return (stop.status, stop.proof_kind, stop.signed_by, stop.left_at, bool(stop.photo), stop.order.status,
            OrderEvent.objects.filter(order=stop.order).count(), Notification.objects.count())


# --- Masking ---


@pytest.mark.parametrize("raw, masked", [
    ("13812341234", "138****1234"),
    ("138 1234 1234", "138****1234"),
    ("+8613812341234", "+86****1234"),
    ("0755-86001234", "075****1234"),
    ("12345", "***45"),
    ("", ""),
    (None, ""),
])
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


@pytest.mark.parametrize("text, masked", [
    ("到了打 13912345678 找王姐", "到了打 139****5678 找王姐"),
    ("电话+86 139-1234-5678", "电话139****5678"),
    ("座机 0755-86001234 转 8", "座机 0755****1234 转 8"),
    ("福华路 88 号 2 楼，订单 D1000001", "福华路 88 号 2 楼，订单 D1000001"),
    ("", ""),
])
def test_phone_numbers_typed_into_free_text_are_masked(text, masked):
    assert delivery.mask_phones_in(text) == masked


# --- Photo checks ---


def test_exif_original_time_is_read_from_the_exif_ifd():
    taken = NOW - timedelta(minutes=5)
    assert photo_check(jpeg(taken_at=taken)).taken_at == taken
    # With an offset tag the camera's zone is used, not the warehouse's.
    utc_taken = (NOW - timedelta(minutes=10)).astimezone(ZoneInfo("UTC"))
    assert photo_check(jpeg(taken_at=utc_taken, offset="+00:00")).taken_at == utc_taken


def test_a_photo_without_exif_time_is_accepted_with_an_unknown_time():
    checked = photo_check(jpeg())
    assert (checked.format, checked.taken_at) == ("JPEG", None)


@pytest.mark.parametrize("age, code", [
    (timedelta(hours=2), "photo_too_old"),
    (timedelta(minutes=31), "photo_too_old"),
    (-timedelta(hours=1), "photo_time_invalid"),
])
def test_an_old_or_future_photo_is_refused(age, code):
    with pytest.raises(ValidationFailed) as refused:
        photo_check(jpeg(taken_at=NOW - age))
    assert refused.value.code == code


def test_not_an_image_or_too_large_is_refused(monkeypatch):
    fake = SimpleUploadedFile("photo.jpg", b"%PDF-1.4 not a picture", content_type="image/jpeg")
    with pytest.raises(ValidationFailed) as refused:
        photo_check(fake)
    assert refused.value.code == "photo_invalid"

    truncated = jpeg(size=(400, 300))
    truncated = SimpleUploadedFile("photo.jpg", truncated.read()[:300], content_type="image/jpeg")
    with pytest.raises(ValidationFailed) as refused:
        photo_check(truncated)
    assert refused.value.code == "photo_invalid"

    monkeypatch.setattr(delivery, "MAX_PHOTO_BYTES", 500)
    with pytest.raises(ValidationFailed) as refused:
        photo_check(jpeg(size=(400, 300)))
    assert refused.value.code == "photo_too_large"

    with pytest.raises(ValidationFailed) as refused:
        photo_check(None)
    assert refused.value.code == "photo_required"


# --- Leaving the warehouse ---


def test_starting_a_run_sends_its_orders_out(run, driver):
    run_start(driver=driver, run_id=run.pk)

    run.refresh_from_db()
    assert run.status == "in_progress"
    orders = Order.objects.filter(stops__run=run)
    assert set(orders.values_list("status", flat=True)) == {"out_for_delivery"}
    assert OrderEvent.objects.filter(order__in=orders, to_status="out_for_delivery", actor="送货司机 张师傅").count() == 2

    with pytest.raises(Conflict):
        run_start(driver=driver, run_id=run.pk)


def test_a_run_for_a_later_day_cannot_start(driver):
    later = DeliveryRun.objects.create(driver=driver, delivery_date=DAY + timedelta(days=1))
    Stop.objects.create(run=later, order=delivery_order(delivery_date=later.delivery_date), sequence=1)
    with pytest.raises(Conflict):
        run_start(driver=driver, run_id=later.pk)
    later.refresh_from_db()
    assert later.status == "planned" and Order.objects.get().status == "packed"


def test_a_driver_cannot_start_or_complete_another_drivers_run(run, driver):
    other = DeliveryDriverFactory()
    with pytest.raises(NotFound):
        run_start(driver=other, run_id=run.pk)
    run_start(driver=driver, run_id=run.pk)
    stop = _first_stop(run)
    before = _snapshot(stop)
    with pytest.raises(NotFound):
        stop_complete(driver=other, stop_id=stop.pk, proof_kind="signed", signed_by="王老板", photo=jpeg())
    with pytest.raises(NotFound):
        stop_fail(driver=other, stop_id=stop.pk, reason="关门")
    assert _snapshot(stop) == before


# --- Completing a stop ---


@pytest.mark.parametrize("fields, code", [
    ({"proof_kind": ""}, "proof_kind_required"),
    ({"proof_kind": "signed", "signed_by": "  "}, "signed_by_required"),
    ({"proof_kind": "left", "left_at": ""}, "left_at_required"),
    ({"proof_kind": "left", "signed_by": "王老板"}, "left_at_required"),
    ({"proof_kind": "signed", "signed_by": "王老板", "photo": None}, "photo_required"),
])
def test_completing_without_proof_is_refused_and_changes_nothing(started, driver, fields, code):
    stop = _first_stop(started)
    before = _snapshot(stop)
    arguments = {"photo": jpeg(), **fields}

    with pytest.raises(ValidationFailed) as refused:
        stop_complete(driver=driver, stop_id=stop.pk, **arguments)

    assert refused.value.code == code
    assert _snapshot(stop) == before == ("pending", "", "", "", False, "out_for_delivery", 1, 0)


def test_a_control_character_in_the_proof_or_the_reason_is_refused_and_changes_nothing(started, driver_client):
    """The stop form is multipart (its photo), so its text is checked by the service, not the
    middleware: a NUL would be refused by PostgreSQL with a 500 (tests/core/test_no_server_errors.py)."""
    stop = _first_stop(started)
    before = _snapshot(stop)

    signed = driver_client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王\x00老板", "photo": jpeg(taken_at=NOW - timedelta(minutes=1))})
    left = driver_client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "left", "left_at": "门口\x00", "photo": jpeg(taken_at=NOW - timedelta(minutes=1))})
    failed = driver_client.post(f"/ops/delivery/stops/{stop.pk}/fail/", {"reason": "关门\x00"})

    assert [signed.status_code, left.status_code, failed.status_code] == [400, 400, 400]
    assert "签收人含有不可见的控制字符" in signed.content.decode()
    assert "放置位置含有不可见的控制字符" in left.content.decode()
    assert "未送达原因含有不可见的控制字符" in failed.content.decode()
    assert _snapshot(stop) == before


def test_an_old_photo_is_refused_and_changes_nothing(started, driver):
    stop = _first_stop(started)
    before = _snapshot(stop)
    with pytest.raises(ValidationFailed):
        stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王老板",
                      photo=jpeg(taken_at=NOW - timedelta(hours=2)))
    assert _snapshot(stop) == before


def test_a_stop_cannot_be_completed_before_the_run_leaves(run, driver):
    stop = _first_stop(run)
    before = _snapshot(stop)
    with pytest.raises(Conflict):
        stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王老板", photo=jpeg())
    assert _snapshot(stop) == before


def test_signed_delivery_delivers_the_order_and_writes_the_message_once(started, driver):
    stop = _first_stop(started)
    taken = NOW - timedelta(minutes=3)

    stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王老板", photo=jpeg(taken_at=taken))

    stop.refresh_from_db()
    order = Order.objects.select_related("visitor").get(pk=stop.order_id)
    assert (stop.status, stop.proof_kind, stop.signed_by, stop.left_at) == ("delivered", "signed", "王老板", "")
    assert stop.photo_taken_at == taken and stop.completed_at == NOW
    assert stop.photo.name.startswith("proofs/2026/11/24/") and stop.photo.name.endswith(".jpg")
    assert order.status == "delivered"
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert (event.from_status, event.to_status, event.note) == ("out_for_delivery", "delivered", "王老板签收")

    message = Notification.objects.get()
    assert (message.event_key, message.recipient_kind, message.recipient_id, message.channel, message.template) == (
        f"order:{order.pk}:delivered", "customer", str(order.customer_id), "subscribe", "delivery_done")
    assert message.title == "订单已送达"
    assert message.data == {"character_string1": order.number, "thing2": "王老板签收", "time3": "2026年11月24日 09:30"}
    assert message.link == f"/shop/orders/{order.pk}/"
    assert message.address == order.visitor.openid
    assert "王老板签收" in message.body

    with pytest.raises(Conflict):
        stop_complete(driver=driver, stop_id=stop.pk, proof_kind="left", left_at="门口", photo=jpeg())
    assert Notification.objects.count() == 1
    stop.refresh_from_db()
    assert (stop.proof_kind, stop.signed_by) == ("signed", "王老板")
    started.refresh_from_db()
    assert started.status == "in_progress"  # the second stop is still pending


def test_left_delivery_says_where_and_the_message_field_is_fitted(started, driver):
    stop = _first_stop(started)
    place = "后门冷库旁边第二个不锈钢货架最下面一层的泡沫箱里"

    stop_complete(driver=driver, stop_id=stop.pk, proof_kind="left", left_at=place, signed_by="不该保存",
                  photo=jpeg())

    stop.refresh_from_db()
    assert (stop.proof_kind, stop.left_at, stop.signed_by, stop.photo_taken_at) == ("left", place, "", None)
    assert OrderEvent.objects.filter(order_id=stop.order_id).latest("id").note == f"放在{place}"
    thing = Notification.objects.get().data["thing2"]
    assert len(thing) == 20 and thing.endswith("…") and thing.startswith("放在后门冷库旁边")


def test_failed_delivery_returns_the_order_to_the_warehouse_for_another_run(started, driver):
    stop = _first_stop(started)
    before = _snapshot(stop)
    with pytest.raises(ValidationFailed):
        stop_fail(driver=driver, stop_id=stop.pk, reason=" ")
    assert _snapshot(stop) == before

    stop_fail(driver=driver, stop_id=stop.pk, reason="店铺未营业")

    stop.refresh_from_db()
    assert (stop.status, stop.failure_reason, stop.completed_at) == ("failed", "店铺未营业", NOW)
    order = Order.objects.get(pk=stop.order_id)
    assert order.status == "packed"
    assert OrderEvent.objects.filter(order=order).latest("id").note == "未送达：店铺未营业"
    assert Notification.objects.count() == 0

    # Free again: the next build puts it on another driver's run (this one is on the road).
    other = DeliveryDriverFactory()
    result = runs_build(delivery_date=DAY, time_limit_s=0.3)
    assert result.added == 1
    assert Stop.objects.get(order=order, status="pending").run.driver == other


def test_the_run_is_done_when_every_stop_is_final(started, driver):
    first, second = started.stops.order_by("sequence")
    stop_fail(driver=driver, stop_id=first.pk, reason="联系不上")
    started.refresh_from_db()
    assert started.status == "in_progress"

    stop_complete(driver=driver, stop_id=second.pk, proof_kind="left", left_at="后门", photo=jpeg())

    started.refresh_from_db()
    assert started.status == "done"


# --- Pages ---


@pytest.fixture
def driver_client(client, driver):
    client.force_login(driver.user)
    return client


def test_anonymous_is_sent_to_login_and_other_staff_are_refused(client, run):
    response = client.get("/ops/delivery/")
    assert response.status_code == 302 and response["Location"].startswith("/ops/login/?next=")

    client.force_login(DeliveryUserFactory())
    response = client.get("/ops/delivery/")
    assert response.status_code == 403
    assert "仅限在职送货司机使用" in response.content.decode()
    assert client.get("/ops/delivery/run.json").status_code == 403

    purchasing = DeliveryDriverFactory(kind="purchasing")
    client.force_login(purchasing.user)
    assert client.get("/ops/delivery/").status_code == 403


def test_a_delivery_driver_logs_in_at_the_staff_login_and_lands_on_their_run(client, driver, run):
    response = client.post("/ops/login/", {"username": driver.user.username, "password": "pw-delivery-1"})
    assert response.status_code == 302 and response["Location"] == "/ops/delivery/"
    assert "湘味小馆" in client.get(response["Location"]).content.decode()


def test_run_page_shows_stops_in_order_with_masked_phones(driver_client, run):
    response = driver_client.get("/ops/delivery/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("湘味小馆") < html.index(run.stops.get(sequence=2).order.restaurant_name)
    assert "138****1234" in html and PHONE not in html
    for stop in run.stops.select_related("order"):
        assert stop.order.phone not in html
    assert "https://uri.amap.com/marker?position=114.060000%2C22.540000&amp;name=" in html
    assert "出发" in html


def test_stop_page_and_json_mask_the_phone(driver_client, run):
    stop = _first_stop(run)
    Order.objects.filter(pk=stop.order_id).update(note="到了打 13912345678", address="福华路 88 号（电话 13912345678）")
    html = driver_client.get(f"/ops/delivery/stops/{stop.pk}/").content.decode()
    assert "138****1234" in html and PHONE not in html
    assert "到了打 139****5678" in html and "13912345678" not in html
    assert "13912345678" not in driver_client.get("/ops/delivery/").content.decode()

    response = driver_client.get("/ops/delivery/run.json", {"date": DAY.isoformat()})
    body = response.content.decode()
    assert PHONE not in body and "13912345678" not in body
    data = json.loads(body)["run"]
    assert [s["sequence"] for s in data["stops"]] == [1, 2]
    assert data["stops"][0]["phone"] == "138****1234"
    assert data["stops"][0]["lines"][0]["weight_jin"] == "10.00"


def test_a_driver_sees_only_their_own_runs(client, run):
    other = DeliveryDriverFactory()
    client.force_login(other.user)
    stop = _first_stop(run)

    html = client.get("/ops/delivery/").content.decode()
    assert "这一天没有分配给你的送货线路" in html and "湘味小馆" not in html
    assert json.loads(client.get("/ops/delivery/run.json").content) == {"run": None}
    assert client.get(f"/ops/delivery/stops/{stop.pk}/").status_code == 404
    assert client.post(f"/ops/delivery/runs/{run.pk}/start/").status_code == 404
    response = client.post(f"/ops/delivery/stops/{stop.pk}/complete/",
                           {"proof_kind": "signed", "signed_by": "王老板", "photo": jpeg()})
    assert response.status_code == 404
    assert client.post(f"/ops/delivery/stops/{stop.pk}/fail/", {"reason": "关门"}).status_code == 404
    run.refresh_from_db()
    assert run.status == "planned" and _first_stop(run).status == "pending"


def test_the_whole_stop_flow_through_the_pages(driver_client, run):
    response = driver_client.post(f"/ops/delivery/runs/{run.pk}/start/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "in_progress"
    stop = _first_stop(run)

    refused = driver_client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王老板", "photo": jpeg(taken_at=NOW - timedelta(hours=2))})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "超过 30 分钟" in html and PHONE not in html and 'value="王老板"' in html
    assert _first_stop(run).status == "pending" and Notification.objects.count() == 0

    done = driver_client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王老板", "photo": jpeg(taken_at=NOW - timedelta(minutes=1))})
    assert done.status_code == 302
    assert _first_stop(run).status == "delivered" and Notification.objects.count() == 1

    again = driver_client.post(f"/ops/delivery/stops/{stop.pk}/complete/", {
        "proof_kind": "signed", "signed_by": "王老板", "photo": jpeg()})
    assert again.status_code == 409 and Notification.objects.count() == 1

    page = driver_client.get("/ops/delivery/").content.decode()
    assert "王老板签收" in page and PHONE not in page


@pytest.mark.parametrize("n", [2, 20])
def test_run_page_takes_a_fixed_number_of_queries(driver_client, driver, n, django_assert_max_num_queries):
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    for k in range(1, n + 1):
        Stop.objects.create(run=run, order=delivery_order(delivery_date=DAY), sequence=k)

    with django_assert_max_num_queries(6):
        response = driver_client.get("/ops/delivery/")
    assert response.content.decode().count('data-testid="stop"') == n
    with django_assert_max_num_queries(6):
        assert len(json.loads(driver_client.get("/ops/delivery/run.json").content)["run"]["stops"]) == n


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_tap_on_complete_delivers_once_and_messages_once():
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    driver = DeliveryDriverFactory()
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    stop = Stop.objects.create(run=run, order=delivery_order(delivery_date=DAY), sequence=1)
    run_start(driver=driver, run_id=run.pk)
    photos = [jpeg(), jpeg()]
    barrier = threading.Barrier(2)
    outcomes = [None, None]

    def tap(index):
        try:
            barrier.wait(10)
            stop_complete(driver=driver, stop_id=stop.pk, proof_kind="signed", signed_by="王老板",
                          photo=photos[index])
            outcomes[index] = "delivered"
        except Conflict:
            outcomes[index] = "refused"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["delivered", "refused"]
    assert Notification.objects.filter(event_key__endswith=":delivered").count() == 1
    assert OrderEvent.objects.filter(order_id=stop.order_id, to_status="delivered").count() == 1
    run.refresh_from_db()
    assert run.status == "done"


def test_driver_admin_creates_a_driver_and_puts_the_login_in_its_group(admin_client):
    from django.contrib.auth.models import User

    from logistics.models import Driver

    user = User.objects.create_user(username="driver-li", password="x12345678")
    response = admin_client.post("/admin/logistics/driver/add/", {
        "user": user.pk, "kind": "delivery", "name": "李师傅", "phone": "13800001111", "vehicle_plate": "粤B12345",
        "max_stops": "25", "max_weight_kg": "1000", "is_active": "on"})
    assert response.status_code == 302
    assert Driver.objects.get(user=user).name == "李师傅"
    assert list(user.groups.values_list("name", flat=True)) == ["送货司机"]
