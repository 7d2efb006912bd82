"""The customer's after-sales requests through the API: windows at their edges (Shanghai time),
refusals that store nothing, photos (real images only, EXIF gone), one open request per line."""

import json
from datetime import datetime, timedelta
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from PIL import Image

from aftersales.models import (
    AfterSalesDecision,
    AfterSalesLine,
    AfterSalesPhoto,
    AfterSalesRequest,
    AfterSalesSettings,
)
from aftersales.photos import MAX_PHOTO_BYTES
from orders.models import Order

from .conftest import jpeg_bytes, make_delivered_order, photo

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/aftersales"


def _post(world, *, lines=None, reason="short_weight", note="少了一袋", photos=(), order_id=None, client=None):
    body = {"order_id": str(order_id or world.order.pk), "reason": reason, "note": note,
            "lines": json.dumps(lines if lines is not None else [{"line_id": world.shrimp_line.pk, "quantity": "1"}])}
    if photos:
        body["photos"] = list(photos)
    return (client or world.client).post(URL, body, format="multipart")


def _stored():
    return (AfterSalesRequest.objects.count(), AfterSalesLine.objects.count(), AfterSalesPhoto.objects.count(),
            AfterSalesDecision.objects.count())


def _media_files(settings):
    root = settings.MEDIA_ROOT
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _refused(response, status, code):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and not error["message"].isascii()  # a Chinese sentence for the customer
    return error


def test_a_request_with_photos_is_stored_with_its_lines_and_the_photos_without_exif(world, settings):
    response = _post(world, photos=[photo(), photo("b.png", jpeg_bytes(fmt="PNG"), "image/png")],
                     lines=[{"line_id": world.shrimp_line.pk, "quantity": "1"},
                            {"line_id": world.fish_line.pk, "weight": "1.9"}])

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "submitted" and data["reason_label"] == "短斤少两"
    # 1 bag of 4 charged 182.00 → 45.50; 1.9 斤 of 19 斤 charged 380.00 → 38.00
    assert [(line["line_id"], line["claimed_amount"]) for line in data["lines"]] == [
        (world.shrimp_line.pk, "45.50"), (world.fish_line.pk, "38.00")]
    assert data["claimed_amount"] == "83.50"
    assert [reply["kind"] for reply in data["replies"]] == ["submitted"]
    assert len(data["photos"]) == 2
    # Their addresses cannot be guessed from the request's number: 128 random bits each.
    names = [stored.image.name.rsplit("/", 1)[-1].split(".")[0] for stored in AfterSalesPhoto.objects.all()]
    assert len(set(names)) == 2 and all(len(name) >= 22 and not name.isdigit() for name in names)
    for stored in AfterSalesPhoto.objects.all():
        with Image.open(stored.image.path) as image:
            assert not image.getexif()  # re-encoded: the camera's EXIF is gone
            assert image.size == (64, 48)
    request = AfterSalesRequest.objects.get()
    assert request.customer == world.customer and request.order == world.order


@pytest.mark.parametrize("storage_hours, line", [("frozen_window_hours", "shrimp_line"),
                                                 ("ambient_window_hours", "scallop_line")])
def test_the_window_is_open_to_its_last_second_and_closed_after_it(db, storage_hours, line):
    rules = AfterSalesSettings.current()
    setattr(rules, storage_hours, 48)
    rules.save()
    # Delivered 23:30 Shanghai (15:30 UTC): a window counted in UTC dates would be off by a day.
    delivered = datetime(2026, 12, 1, 23, 30, tzinfo=SHANGHAI)
    world = make_delivered_order(delivered_at=delivered)
    lines = [{"line_id": getattr(world, line).pk, "quantity": "1"}]
    end = delivered + timedelta(hours=48)

    with time_machine.travel(end + timedelta(seconds=1), tick=False):
        before = _stored()
        error = _refused(_post(world, lines=lines), 409, "aftersales_window_closed")
        assert "12月3日 23:30" in error["message"]  # the deadline in Shanghai time
        assert _stored() == before
    with time_machine.travel(end, tick=False):
        assert _post(world, lines=lines).status_code == 201


def test_each_storage_kind_has_its_own_window(db):
    rules = AfterSalesSettings.current()
    rules.frozen_window_hours, rules.ambient_window_hours = 24, 168
    rules.save()
    delivered = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    world = make_delivered_order(delivered_at=delivered)
    with time_machine.travel(delivered + timedelta(hours=30), tick=False):
        _refused(_post(world), 409, "aftersales_window_closed")  # frozen shrimp: 24 h
        assert _post(world, lines=[{"line_id": world.scallop_line.pk, "quantity": "0.5"}]).status_code == 201


def test_refusals_store_nothing(world, settings):
    other = make_delivered_order()
    undelivered = make_delivered_order(customer=world.customer, visitor=world.visitor,
                                       status=Order.Status.OUT_FOR_DELIVERY)
    before, files = _stored(), _media_files(settings)
    cases = [
        (_post(world, order_id=other.order.pk, lines=[{"line_id": other.shrimp_line.pk, "quantity": "1"}]),
         404, "order_not_found"),
        (_post(world, order_id=undelivered.order.pk,
               lines=[{"line_id": undelivered.shrimp_line.pk, "quantity": "1"}]), 409, "order_not_delivered"),
        (_post(world, lines=[{"line_id": world.shrimp_line.pk, "quantity": "4.01"}]), 400, "claim_exceeds_delivered"),
        (_post(world, lines=[{"line_id": world.fish_line.pk, "weight": "19.5"}]), 400, "claim_exceeds_delivered"),
        (_post(world, lines=[{"line_id": world.shrimp_line.pk, "weight": "1"}]), 400, "claim_weight_not_allowed"),
        (_post(world, lines=[{"line_id": other.shrimp_line.pk, "quantity": "1"}]), 400, "line_not_in_order"),
        (_post(world, lines=[]), 400, "lines_required"),
        (_post(world, reason="bored"), 400, "reason_invalid"),
        (_post(world, photos=[photo("fake.jpg", b"this is not an image at all")]), 400, "photo_invalid"),
        (_post(world, photos=[photo(), photo("big.jpg", b"\xff\xd8" + b"0" * (MAX_PHOTO_BYTES + 1))]), 400,
         "photo_too_large"),
        (_post(world, photos=[photo() for _ in range(7)]), 400, "too_many_photos"),
        (_post(world, photos=[photo("a.gif", _gif(), "image/gif")]), 400, "photo_invalid"),
    ]
    for response, status, code in cases:
        _refused(response, status, code)
    assert _stored() == before
    assert _media_files(settings) == files


def _gif() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    return buffer.getvalue()


def test_a_truncated_image_is_refused(world):
    data = jpeg_bytes(size=(400, 300))
    _refused(_post(world, photos=[photo("cut.jpg", data[: len(data) // 2])]), 400, "photo_invalid")
    assert AfterSalesRequest.objects.count() == 0


def test_one_open_request_per_line(world):
    assert _post(world).status_code == 201
    before = _stored()
    _refused(_post(world), 409, "line_has_open_request")
    assert _stored() == before
    # Another line of the same order is free.
    assert _post(world, lines=[{"line_id": world.scallop_line.pk, "quantity": "1"}]).status_code == 201


def test_the_database_refuses_a_second_open_line_whatever_the_code_does(world):
    from django.db import IntegrityError, transaction

    assert _post(world).status_code == 201
    first = AfterSalesLine.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        AfterSalesLine.objects.create(request=first.request, order_line=first.order_line, quantity=Decimal("1"),
                                      claimed_amount=Decimal("1.00"))


def test_list_and_detail_show_only_the_customers_own_requests(world):
    created = _post(world).json()
    other = make_delivered_order()
    _post(other, lines=[{"line_id": other.shrimp_line.pk, "quantity": "1"}])

    listing = world.client.get(URL).json()
    assert [item["id"] for item in listing["results"]] == [created["id"]]
    assert world.client.get(f"{URL}/{created['id']}").json()["order_number"] == world.order.number
    _refused(other.client.get(f"{URL}/{created['id']}"), 404, "aftersales_not_found")


def test_photos_can_be_added_only_when_staff_asked(world, settings):
    from aftersales.decisions import MORE_INFO, Decision, request_decide
    from django.contrib.auth.models import User

    created = _post(world, photos=[photo()]).json()
    url = f"{URL}/{created['id']}/photos"
    _refused(world.client.post(url, {"photos": [photo()]}, format="multipart"), 409, "photos_not_requested")

    staff = User.objects.create_user("kefu", is_staff=True)
    request_decide(request_id=created["id"], user=staff, decision=Decision(kind=MORE_INFO, message="请拍外箱标签"))
    detail = world.client.get(f"{URL}/{created['id']}").json()
    assert detail["status"] == "needs_more_info" and detail["can_add_photos"] is True
    assert detail["replies"][-1] == {**detail["replies"][-1], "kind": "more_info", "message": "请拍外箱标签",
                                     "actor_label": "客服"}

    before = _stored()
    _refused(world.client.post(url, {"photos": [photo() for _ in range(6)]}, format="multipart"), 400,
             "too_many_photos")  # 1 already + 6
    _refused(world.client.post(url, {"photos": [photo("x.jpg", b"GIF89a nope")]}, format="multipart"), 400,
             "photo_invalid")
    assert _stored() == before

    response = world.client.post(url, {"photos": [photo(), photo()]}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "submitted" and len(response.json()["photos"]) == 3
    assert response.json()["replies"][-1]["kind"] == "photos_added"


def test_order_aftersales_lists_what_can_be_claimed(world):
    _post(world)
    data = world.client.get(f"/api/v1/orders/{world.order.pk}/aftersales").json()
    by_line = {line["line_id"]: line for line in data["lines"]}
    assert by_line[world.shrimp_line.pk]["claimable"] is False
    assert by_line[world.shrimp_line.pk]["problem"] == "售后处理中"
    assert by_line[world.fish_line.pk] == {**by_line[world.fish_line.pk], "claimable": True, "weighs": True,
                                           "charged_amount": "380.00"}
    assert len(data["requests"]) == 1


def test_a_visitor_without_a_restaurant_or_anonymous_is_refused(world, visitor_client, api_client):
    _refused(_post(world, client=visitor_client), 404, "order_not_found")
    assert api_client.get(URL).status_code == 401
    assert AfterSalesRequest.objects.count() == 0


def test_a_body_larger_than_six_photos_is_refused_before_it_is_read(world):
    from aftersales.photos import MAX_BODY_BYTES

    response = world.client.post(URL, data=b"x", content_type="multipart/form-data; boundary=zz",
                                 CONTENT_LENGTH=str(MAX_BODY_BYTES + 1))
    _refused(response, 400, "photo_too_large")
    assert AfterSalesRequest.objects.count() == 0
