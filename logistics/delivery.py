"""The delivery driver's side of a run: what they may see, leaving the warehouse, and each stop
delivered with proof (or failed with a reason).

Rules kept:
- a driver reaches only their own runs and stops; anyone else's is "not found";
- customers' phone numbers leave this module masked, the phone field and any digits typed into
  the name, contact, district, address or note alike; 24 h after a stop was completed its
  customer data is no longer shown at all (logistics.privacy);
- a delivery needs proof: who signed, or where the goods were left, and a photo uploaded now —
  an image, not too large, and, when the camera wrote its time into the file (EXIF
  DateTimeOriginal), taken within the last 30 minutes, so an old picture from the camera roll
  does not pass (Onfleet's pitfall). A photo without that tag is accepted with an unknown time
  (`photo_taken_at` stays empty): many phones and WeChat's picker strip EXIF;
- the order's status, the stop and the customer's delivery message change in one transaction;
  the message is written to the outbox once per order (its event key is unique).

Locks are taken in one order everywhere: run, then stop, then order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from core.inputs import text_check

from . import conduct
from .models import DeliveryRun, Driver, Stop
from .privacy import (  # noqa: F401  (mask_phone, mask_phones_in: the masking lives in privacy)
    customer_data_expired,
    customer_fields,
    hidden_customer_fields,
    mask_phone,
    mask_phones_in,
)

MAX_PHOTO_BYTES = 8 * 1024 * 1024
PHOTO_MAX_AGE = timedelta(minutes=30)
# A camera clock a little ahead of the server's is normal; a photo "from the future" is not.
PHOTO_CLOCK_TOLERANCE = timedelta(minutes=10)
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: the JPEG variant some phone cameras write
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 36867
EXIF_OFFSET_TIME_ORIGINAL = 36881
EXIF_DATETIME = 306  # in IFD0: when the file was last written; used only if there is no original time

AMAP_MARKER = "https://uri.amap.com/marker"


# ---------------------------------------------------------------------------------------------
# What a driver may see.


def navigation_url(*, latitude, longitude, name: str) -> str:
    """Amap's marker link (GCJ-02, lng first): opens the Amap app on a phone, its web map elsewhere."""
    from urllib.parse import urlencode

    if latitude is None or longitude is None:
        return ""
    query = urlencode({"position": f"{float(longitude):.6f},{float(latitude):.6f}", "name": name,
                       "src": "seafood-b2b", "coordinate": "gaode", "callnative": "1"})
    return f"{AMAP_MARKER}?{query}"


def local_today() -> date:
    return timezone.localdate()


def driver_run(*, driver: Driver, delivery_date: date) -> DeliveryRun | None:
    """The driver's run of the day with stops, orders and lines loaded (a fixed number of queries)."""
    from orders.models import OrderLine

    lines = OrderLine.objects.only("order_id", "product_name", "spec", "unit", "quantity", "packed_quantity",
                                   "actual_weight", "catch_weight").order_by("id")
    stops = Stop.objects.select_related("order").prefetch_related(Prefetch("order__lines", queryset=lines)) \
        .order_by("sequence")
    return (DeliveryRun.objects.filter(driver=driver, delivery_date=delivery_date)
            .prefetch_related(Prefetch("stops", queryset=stops)).first())


def driver_stop(*, driver: Driver, stop_id: int) -> Stop:
    from orders.models import OrderLine

    lines = OrderLine.objects.order_by("id")
    stop = (Stop.objects.filter(pk=stop_id, run__driver=driver).select_related("run", "order")
            .prefetch_related(Prefetch("order__lines", queryset=lines)).first())
    if stop is None:
        raise NotFound("找不到该站点")
    return stop


def stop_card(stop: Stop, *, now: datetime | None = None, together: tuple = ()) -> dict:
    """What the driver's pages and JSON show of a stop, and nothing more: the customer's text with
    every phone number masked; 24 h after completion, none of the customer's data at all.

    `together`: the sequence numbers of the run's other stops for the same restaurant (its add-on
    orders for the day), delivered at the same door."""
    order = stop.order
    hidden = customer_data_expired(stop.completed_at, now=now)
    customer = hidden_customer_fields() if hidden else customer_fields(order, full=False)
    return {
        "id": stop.pk,
        "sequence": stop.sequence,
        "status": stop.status,
        "status_label": stop.get_status_display(),
        "order_number": order.number,
        **customer,
        "customer_hidden": hidden,
        "navigation_url": "" if hidden else navigation_url(latitude=order.latitude, longitude=order.longitude,
                                                           name=customer["restaurant_name"]),
        "has_location": not hidden and order.latitude is not None and order.longitude is not None,
        "lines": [
            {
                "name": line.product_name,
                "spec": line.spec,
                "unit": line.unit,
                "quantity": str(line.packed_quantity if line.packed_quantity is not None else line.quantity),
                "weight_jin": str(line.actual_weight) if line.actual_weight is not None else "",
            }
            for line in order.lines.all()
        ],
        "proof_kind": stop.proof_kind,
        "proof": mask_phones_in(_proof_text(stop)) if stop.status == Stop.Status.DELIVERED and not hidden else "",
        "failure_reason": mask_phones_in(stop.failure_reason),
        "together": list(together),
        "completed_at": timezone.localtime(stop.completed_at).strftime("%H:%M") if stop.completed_at else "",
    }


def run_card(run: DeliveryRun, *, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    by_customer: dict = {}
    for stop in run.stops.all():
        by_customer.setdefault(stop.order.customer_id, []).append(stop.sequence)
    stops = [stop_card(stop, now=now, together=tuple(seq for seq in by_customer[stop.order.customer_id]
                                                     if seq != stop.sequence))
             for stop in run.stops.all()]
    return {
        "id": run.pk,
        "delivery_date": run.delivery_date.isoformat(),
        "status": run.status,
        "status_label": run.get_status_display(),
        "total_distance_km": str(run.total_distance_km) if run.total_distance_km is not None else "",
        "stops": stops,
        "counts": {
            "total": len(stops),
            "pending": sum(1 for s in stops if s["status"] == Stop.Status.PENDING),
            "delivered": sum(1 for s in stops if s["status"] == Stop.Status.DELIVERED),
            "failed": sum(1 for s in stops if s["status"] == Stop.Status.FAILED),
        },
    }


# ---------------------------------------------------------------------------------------------
# Proof photo.


@dataclass(frozen=True)
class PhotoCheck:
    format: str
    taken_at: datetime | None  # from EXIF; None when the file does not say


def _exif_time(exif) -> datetime | None:
    """DateTimeOriginal (Exif IFD), else DateTime (IFD0), as an aware datetime; None if absent or
    unreadable. EXIF times are the camera's local time: the offset tag is used when present,
    otherwise the warehouse's time zone, where the driver is."""
    exif_ifd = exif.get_ifd(EXIF_IFD) if exif else {}
    raw = exif_ifd.get(EXIF_DATETIME_ORIGINAL) or (exif.get(EXIF_DATETIME) if exif else None)
    if not raw:
        return None
    raw = raw.decode(errors="ignore") if isinstance(raw, bytes) else str(raw)
    try:
        naive = datetime.strptime(raw.strip("\x00 ").strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = exif_ifd.get(EXIF_OFFSET_TIME_ORIGINAL)
    if offset:
        offset = offset.decode(errors="ignore") if isinstance(offset, bytes) else str(offset)
        match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", offset.strip("\x00 "))
        if match:
            sign = 1 if match.group(1) == "+" else -1
            delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
            return naive.replace(tzinfo=timezone.get_fixed_timezone(sign * delta))
    return naive.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))


def photo_check(photo, *, now: datetime | None = None) -> PhotoCheck:
    """Refuse anything that is not a fresh picture; return its format and EXIF time."""
    from PIL import Image, UnidentifiedImageError

    if photo is None or not getattr(photo, "size", 0):
        raise ValidationFailed("请拍摄现场照片", code="photo_required")
    if photo.size > MAX_PHOTO_BYTES:
        raise ValidationFailed(f"照片不能超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB", code="photo_too_large")
    now = now or timezone.now()
    try:
        photo.seek(0)
        with Image.open(photo) as image:
            image_format = image.format
            exif = image.getexif()
            image.verify()  # reads the whole file: a truncated or forged image fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed("上传的文件不是有效的图片", code="photo_invalid")
    finally:
        photo.seek(0)
    if image_format not in PHOTO_FORMATS:
        raise ValidationFailed("照片须为 JPEG、PNG 或 WEBP 格式", code="photo_invalid")
    taken_at = _exif_time(exif)
    if taken_at is not None:
        if taken_at < now - PHOTO_MAX_AGE:
            local = timezone.localtime(taken_at)
            raise ValidationFailed(
                f"照片拍摄于 {local:%m-%d %H:%M}，超过 30 分钟，请现场重新拍摄", code="photo_too_old",
                details={"taken_at": taken_at.isoformat()})
        if taken_at > now + PHOTO_CLOCK_TOLERANCE:
            raise ValidationFailed("照片时间不正确，请现场重新拍摄", code="photo_time_invalid",
                                   details={"taken_at": taken_at.isoformat()})
    return PhotoCheck(format=image_format, taken_at=taken_at)


# ---------------------------------------------------------------------------------------------
# Writes.


def _actor(driver: Driver) -> str:
    return f"送货司机 {driver.name}"[:60]


def _lock_run(*, driver: Driver, run_id: int) -> DeliveryRun:
    run = DeliveryRun.objects.select_for_update().filter(pk=run_id, driver=driver).first()
    if run is None:
        raise NotFound("找不到该配送线路")
    return run


def run_start(*, driver: Driver, run_id: int) -> DeliveryRun:
    """出发: the run's orders go out for delivery and the run is on the road."""
    from orders.models import Order
    from orders.services import order_transition

    with transaction.atomic():
        run = _lock_run(driver=driver, run_id=run_id)
        if run.status != DeliveryRun.Status.PLANNED:
            raise Conflict(f"线路{run.get_status_display()}，不能再次出发", code="run_not_planned")
        if run.delivery_date > local_today():
            raise Conflict(f"这是 {run.delivery_date:%m-%d} 的线路，当天才能出发", code="run_not_today")
        order_ids = list(run.stops.filter(status=Stop.Status.PENDING).values_list("order_id", flat=True))
        if not order_ids:
            raise Conflict("线路上没有待送的站点", code="run_empty")
        orders = list(Order.objects.filter(pk__in=order_ids).order_by("pk").select_for_update())
        for order in orders:
            order_transition(order=order, to_status=Order.Status.OUT_FOR_DELIVERY, actor=_actor(driver),
                             note=f"随{driver.name}的线路出发")
        run.status = DeliveryRun.Status.IN_PROGRESS
        run.save(update_fields=["status", "updated_at"])
    return run


def _lock_pending_stop(*, driver: Driver, stop_id: int):
    """The stop's run, the stop and its order, locked in that order; the stop must be pending."""
    from orders.models import Order

    run_id = Stop.objects.filter(pk=stop_id, run__driver=driver).values_list("run_id", flat=True).first()
    if run_id is None:
        raise NotFound("找不到该站点")
    run = _lock_run(driver=driver, run_id=run_id)
    stop = Stop.objects.select_for_update().get(pk=stop_id)
    if run.status != DeliveryRun.Status.IN_PROGRESS:
        raise Conflict("请先点「出发」再完成站点" if run.status == DeliveryRun.Status.PLANNED else "线路已结束",
                       code="run_not_in_progress")
    if stop.status != Stop.Status.PENDING:
        raise Conflict(f"该站点已{stop.get_status_display()}", code="stop_not_pending")
    order = Order.objects.select_for_update().select_related("visitor").get(pk=stop.order_id)
    return run, stop, order


def _finish_run_if_done(run: DeliveryRun) -> None:
    if not run.stops.filter(status=Stop.Status.PENDING).exists():
        run.status = DeliveryRun.Status.DONE
        run.save(update_fields=["status", "updated_at"])


def _proof_text(stop: Stop) -> str:
    if stop.proof_kind == Stop.Proof.SIGNED:
        return f"{stop.signed_by}签收"
    if stop.proof_kind == Stop.Proof.LEFT:
        return f"放在{stop.left_at}"
    return ""


def stop_complete(*, driver: Driver, stop_id: int, proof_kind: str, signed_by: str = "", left_at: str = "",
                  photo=None, latitude=None, longitude=None, coordinate_system: str = "gcj02",
                  now: datetime | None = None) -> Stop:
    """Delivered, with proof; the order is delivered and the customer told, all at once.

    `latitude`/`longitude`: where the phone was, if it said, in `coordinate_system` (gcj02, or
    wgs84 from a browser: converted to GCJ-02 first); a proof recorded beyond 配送规则's distance
    from the customer's pin is flagged to managers (logistics.conduct)."""
    from orders.models import Order
    from orders.messages import message_delivered
    from orders.services import order_transition

    signed_by = text_check((signed_by or "").strip(), label="签收人", field="signed_by")
    left_at = text_check((left_at or "").strip(), label="放置位置", field="left_at")
    if proof_kind == Stop.Proof.SIGNED:
        if not signed_by:
            raise ValidationFailed("请填写签收人", code="signed_by_required")
        if len(signed_by) > 40:
            raise ValidationFailed("签收人不能超过 40 个字", code="signed_by_too_long")
        left_at = ""
    elif proof_kind == Stop.Proof.LEFT:
        if not left_at:
            raise ValidationFailed("请填写放置位置", code="left_at_required")
        if len(left_at) > 100:
            raise ValidationFailed("放置位置不能超过 100 个字", code="left_at_too_long")
        signed_by = ""
    else:
        raise ValidationFailed("请选择签收方式：当面签收或放置指定位置", code="proof_kind_required")
    now = now or timezone.now()
    checked = photo_check(photo, now=now)
    position = conduct.proof_position(latitude, longitude, datum=coordinate_system)
    limit_m = conduct.proof_limit_m()

    with transaction.atomic():
        run, stop, order = _lock_pending_stop(driver=driver, stop_id=stop_id)
        stop.status = Stop.Status.DELIVERED
        stop.proof_kind, stop.signed_by, stop.left_at = proof_kind, signed_by, left_at
        proof = _proof_text(stop)
        # The transition checks the order first, so a refused delivery leaves no photo file behind.
        order_transition(order=order, to_status=Order.Status.DELIVERED, actor=_actor(driver), note=proof)
        stop.photo_taken_at = checked.taken_at
        stop.completed_at = now
        extension = {"JPEG": "jpg", "MPO": "jpg"}.get(checked.format, checked.format.lower())
        stop.photo.save(f"stop-{stop.pk}.{extension}", photo, save=False)
        stop.proof_latitude, stop.proof_longitude = position or (None, None)
        stop.proof_distance_m = conduct.proof_distance_m(order=order, position=position)
        stop.far_from_customer = conduct.proof_is_far(distance_m=stop.proof_distance_m, limit_m=limit_m)
        stop.save(update_fields=["status", "proof_kind", "signed_by", "left_at", "photo", "photo_taken_at",
                                 "completed_at", "proof_latitude", "proof_longitude", "proof_distance_m",
                                 "far_from_customer"])
        if stop.far_from_customer:
            conduct.proof_far_notify(stop=stop, order=order, driver=driver, distance_m=stop.proof_distance_m,
                                     limit_m=limit_m)
        message_delivered(order=order, proof=proof, delivered_at=now)
        _finish_run_if_done(run)
    return stop


def stop_fail(*, driver: Driver, stop_id: int, reason: str, now: datetime | None = None) -> Stop:
    """Not delivered: the order goes back to the warehouse (packed), free for another run."""
    from orders.models import Order
    from orders.services import order_transition

    reason = text_check((reason or "").strip(), label="未送达原因", field="reason")
    if not reason:
        raise ValidationFailed("请填写未送达原因", code="failure_reason_required")
    if len(reason) > 100:
        raise ValidationFailed("未送达原因不能超过 100 个字", code="failure_reason_too_long")
    with transaction.atomic():
        run, stop, order = _lock_pending_stop(driver=driver, stop_id=stop_id)
        stop.status = Stop.Status.FAILED
        stop.failure_reason = reason
        stop.completed_at = now or timezone.now()
        stop.save(update_fields=["status", "failure_reason", "completed_at"])
        order_transition(order=order, to_status=Order.Status.PACKED, actor=_actor(driver), note=f"未送达：{reason}")
        _finish_run_if_done(run)
    return stop
