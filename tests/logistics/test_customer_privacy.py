"""Drivers and warehouse staff never see a customer's phone number — not the phone field, not
digits typed into the restaurant name, contact, district, address or note — and a delivery stop's
customer data leaves the driver's pages 24 hours after completion. Back-office staff who may read
orders still see the full number."""

import json
import re
from datetime import date, datetime, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User

from logistics.models import DeliveryRun, Stop
from logistics.privacy import mask_phones_in
from logistics.roles import WAREHOUSE_GROUP
from orders.models import Order
from tests.factories import DeliveryDriverFactory, delivery_order
from tests.logistics.test_packing import clerk  # noqa: F401

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)
FIELD_PHONE = "13812341234"
# Every way a number was typed, in every text field, each a different number so each is checked.
TYPED = {
    "restaurant_name": ("湘味小馆 13900001111", "13900001111"),
    "contact_name": ("王姐 139-0000-2222", "13900002222"),
    "district": ("福田 139 0000 3333", "13900003333"),
    "address": ("福华路 88 号（座机 8600 4444）", "86004444"),
    "note": ("到了打 (0755)8600.5555 或 １３９００００６６６６", "86005555"),
}


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.fixture(autouse=True)
def _frozen_clock(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def typed_order():
    order = delivery_order(delivery_date=DAY, phone=FIELD_PHONE)
    Order.objects.filter(pk=order.pk).update(**{field: text for field, (text, _) in TYPED.items()})
    order.refresh_from_db()
    return order


@pytest.fixture
def driver():
    return DeliveryDriverFactory(name="张师傅")


@pytest.fixture
def stop(driver, typed_order):
    run = DeliveryRun.objects.create(driver=driver, delivery_date=DAY)
    return Stop.objects.create(run=run, order=typed_order, sequence=1)


def _assert_no_number(body: str) -> None:
    """No phone number in the page or JSON: not as typed, and not as its bare digits."""
    bare = _digits(unquote(body))
    for _, number in TYPED.values():
        assert number not in bare
    assert FIELD_PHONE not in bare
    assert "１３９００００６６６６" not in body
    for text, _ in TYPED.values():
        assert text not in body


# --- The masking function ------------------------------------------------------------------------


@pytest.mark.parametrize("text, masked", [
    ("13800138000", "138****8000"),
    ("138 0013 8000", "138****8000"),
    ("138-0013-8000", "138****8000"),
    ("+86 138 0013 8000", "138****8000"),
    ("0755-86001234", "0755****1234"),
    ("8600 1234", "****34"),
    ("8600-1234", "****34"),
    ("(0755)8600.1234", "(****34"),
    ("１３８００１３８０００", "****００"),
    ("1234567", "****67"),
    ("湘味小馆13800138000", "湘味小馆138****8000"),
])
def test_every_run_of_seven_or_more_digits_is_masked(text, masked):
    assert mask_phones_in(text) == masked


@pytest.mark.parametrize("text", ["123456", "福华路 88 号 2 楼 1201 室", "3-5 箱", "订单 D1000001", "SF2603010001",
                                  "10:30-11:30 送", ""])
def test_short_numbers_and_codes_are_left_alone(text):
    assert mask_phones_in(text) == text


# --- Driver pages and API --------------------------------------------------------------------------


def test_no_number_on_the_drivers_run_page_stop_page_or_json(client, driver, stop):
    client.force_login(driver.user)

    pages = {
        "run": client.get("/ops/delivery/"),
        "stop": client.get(f"/ops/delivery/stops/{stop.pk}/"),
        "json": client.get("/ops/delivery/run.json", {"date": DAY.isoformat()}),
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        _assert_no_number(response.content.decode())
    for response in (pages["run"], pages["stop"]):
        html = response.content.decode()
        assert "湘味小馆 139****1111" in html and "王姐 139****2222" in html and "138****1234" in html
        assert "福田 139****3333" in html and "座机 ****44" in html and "到了打 (****55 或 ****６６" in html
    card = json.loads(pages["json"].content)["run"]["stops"][0]
    assert card["restaurant_name"] == "湘味小馆 139****1111"
    assert (card["district"], card["phone"]) == ("福田 139****3333", "138****1234")
    assert "139****1111" in unquote(card["navigation_url"])  # the map link carries the masked name


def test_digits_in_the_proof_and_failure_reason_are_masked_too(client, driver, stop):
    Stop.objects.filter(pk=stop.pk).update(status=Stop.Status.FAILED, failure_reason="关门，打 13900007777 没人接",
                                           completed_at=NOW)
    client.force_login(driver.user)

    card = json.loads(client.get("/ops/delivery/run.json", {"date": DAY.isoformat()}).content)["run"]["stops"][0]

    assert card["failure_reason"] == "关门，打 139****7777 没人接"


# --- 24 hours after completion ----------------------------------------------------------------------


def _completed(stop, ago: timedelta) -> None:
    Stop.objects.filter(pk=stop.pk).update(status=Stop.Status.DELIVERED, proof_kind=Stop.Proof.SIGNED,
                                           signed_by="王姐", completed_at=NOW - ago)


def test_a_stop_completed_more_than_24_hours_ago_shows_no_customer_data(client, driver, stop):
    _completed(stop, timedelta(hours=24, seconds=1))
    client.force_login(driver.user)

    run_html = client.get("/ops/delivery/", {"date": DAY.isoformat()}).content.decode()
    stop_html = client.get(f"/ops/delivery/stops/{stop.pk}/").content.decode()
    card = json.loads(client.get("/ops/delivery/run.json", {"date": DAY.isoformat()}).content)["run"]["stops"][0]

    for html in (run_html, stop_html):
        assert "客户信息已隐藏" in html and 'data-testid="customer-hidden"' in html
        for masked in ("湘味小馆", "王姐", "福华路", "福田", "到了打", "****", "uri.amap.com"):
            assert masked not in html
        assert stop.order.number in html  # the stop is still there: the driver's record of the work
    assert card["customer_hidden"] is True
    assert {k: card[k] for k in ("restaurant_name", "contact_name", "phone", "district", "address", "note",
                                 "navigation_url", "proof")} == {
        "restaurant_name": "（客户信息已隐藏）", "contact_name": "", "phone": "", "district": "", "address": "",
        "note": "", "navigation_url": "", "proof": ""}
    assert (card["status"], card["lines"][0]["weight_jin"]) == ("delivered", "10.00")


def test_a_stop_completed_23_hours_59_minutes_ago_still_shows_its_masked_customer_data(client, driver, stop):
    _completed(stop, timedelta(hours=23, minutes=59))
    client.force_login(driver.user)

    card = json.loads(client.get("/ops/delivery/run.json", {"date": DAY.isoformat()}).content)["run"]["stops"][0]
    html = client.get(f"/ops/delivery/stops/{stop.pk}/").content.decode()

    assert card["customer_hidden"] is False
    assert (card["restaurant_name"], card["phone"], card["proof"]) == ("湘味小馆 139****1111", "138****1234", "王姐签收")
    assert "湘味小馆 139****1111" in html and "客户信息已隐藏" not in html


def test_a_pending_stop_keeps_its_customer_data_however_old_the_run(client, driver, stop):
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        client.force_login(driver.user)
        card = json.loads(client.get("/ops/delivery/run.json", {"date": DAY.isoformat()}).content)["run"]["stops"][0]
    assert (card["customer_hidden"], card["restaurant_name"]) == (False, "湘味小馆 139****1111")


# --- Warehouse (packing) pages: masked for clerks, full for back-office staff --------------------------


@pytest.fixture
def office_clerk(clerk):
    """A member of the office who also packs: staff, may read orders in admin, in the warehouse group."""
    user = User.objects.create_user("office_zhao", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=WAREHOUSE_GROUP))
    user.user_permissions.add(Permission.objects.get(codename="view_order", content_type__app_label="orders"))
    return user


def _packing_pages(client, order_id, day):
    return [client.get("/ops/packing/", {"date": day.isoformat()}), client.get(f"/ops/packing/{order_id}/")]


def test_a_clerk_sees_no_number_on_the_packing_pages(client, clerk, typed_order):
    Order.objects.filter(pk=typed_order.pk).update(status=Order.Status.PAID)
    client.force_login(clerk)

    responses = _packing_pages(client, typed_order.pk, DAY)
    Order.objects.filter(pk=typed_order.pk).update(status=Order.Status.PACKED)
    responses.append(client.get(f"/ops/packing/{typed_order.pk}/result/"))

    for response in responses:
        assert response.status_code == 200
        html = response.content.decode()
        _assert_no_number(html)
        assert "湘味小馆 139****1111" in html


def test_back_office_staff_with_the_order_role_see_the_full_number(client, clerk, office_clerk, typed_order):
    Order.objects.filter(pk=typed_order.pk).update(status=Order.Status.PAID)
    client.force_login(office_clerk)

    list_html, order_html = (r.content.decode() for r in _packing_pages(client, typed_order.pk, DAY))

    assert "湘味小馆 13900001111" in list_html and "福田 139 0000 3333" in list_html
    assert "到了打 (0755)8600.5555" in order_html
    client.force_login(clerk)
    assert "13900001111" not in client.get(f"/ops/packing/{typed_order.pk}/").content.decode()
