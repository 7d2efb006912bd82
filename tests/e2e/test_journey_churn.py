"""J4 churn and win-back, from the rep's phone, in headless Chromium against the live server.

Customers get an ordering history through the real payment path (customer_record_payment, as
payment does) plus real Order rows; the nightly sweep runs server-side; the rep, standing at a
fixed point in Futian, Shenzhen, sees the alert in the inbox, opens the customer on the order it
is about, then walks the nearby list, nearest first. The customer then orders again and the
rep is credited with the win-back.
"""

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from core.geo import wgs84_to_gcj02
from customers.churn import churn_sweep, customer_record_payment, distance_km
from customers.models import ChurnEvent, Customer
from orders.models import Order
from tests.factories import CustomerFactory, RepFactory, VisitorFactory

pytestmark = pytest.mark.e2e

PASSWORD = "rep-pass-123"
# Where the rep stands: the phone browser's fix (WGS-84, what navigator.geolocation answers) and the
# same spot in GCJ-02, the pins' datum, which the server converts it to (core.geo) before measuring.
HERE_WGS84 = (22.5431, 114.0579)
HERE = wgs84_to_gcj02(*HERE_WGS84)
KM_LAT = 1 / 111.195  # degrees of latitude per km
KM_LNG = 1 / (111.195 * 0.92360)  # degrees of longitude per km at 22.54°N (cos 22.54° = 0.9236)


def at(north_km: float = 0, east_km: float = 0) -> dict:
    return {"latitude": Decimal(f"{HERE[0] + north_km * KM_LAT:.6f}"),
            "longitude": Decimal(f"{HERE[1] + east_km * KM_LNG:.6f}")}


def shown_distance(customer) -> str:
    """What the page must show: metres under 1 km, else km with one decimal."""
    km = round(distance_km(HERE[0], HERE[1], float(customer.latitude), float(customer.longitude)), 3)
    return f"{round(km * 1000)} m" if round(km * 1000) < 1000 else f"{km:.1f} km"


def with_history(name, rep, days_ago, now, **where):
    """A customer whose paid orders were `days_ago` days before `now`: the rhythm through the real
    path, and a real Order row for each payment (the alert links to the last one)."""
    customer = CustomerFactory(name=name, rep=rep, phone=f"1390000{Customer.objects.count():04d}",
                               address=f"深圳市福田区{name}", **where)
    visitor = VisitorFactory(customer=customer)
    orders = []
    for days in sorted(days_ago, reverse=True):
        paid_at = now - timedelta(days=days)
        with transaction.atomic():
            customer_record_payment(customer_id=customer.pk, paid_at=paid_at)
        n = Order.objects.count() + 1
        orders.append(Order.objects.create(
            number=f"2610{n:010d}", customer=customer, visitor=visitor, rep=rep, status=Order.Status.COMPLETED,
            idempotency_key=f"k-{uuid.uuid4().hex}", delivery_date=timezone.localdate(paid_at) + timedelta(days=1),
            subtotal=Decimal("260.00"), total=Decimal("260.00"), restaurant_name=name, contact_name="老板",
            phone=customer.phone, address=customer.address, expires_at=paid_at, paid_at=paid_at))
    customer.refresh_from_db()
    customer.orders_made = orders
    return customer


@pytest.fixture
def world(transactional_db):
    now = timezone.now()
    user = User.objects.create_user(username="zhangsan", password=PASSWORD)
    zhang = RepFactory(name="张三", key="R7M4", user=user)
    li = RepFactory(name="李四", key="L1S4")
    customers = {
        # Mine, lapsing, at increasing distances (the order they must be listed in).
        "churned_near": with_history("湘味小馆", zhang, [50, 45, 40], now, **at(north_km=0.3)),
        "at_risk": with_history("海鲜大排档", zhang, [19, 16, 13, 10], now, **at(east_km=1.2)),
        "churned_mid": with_history("粤港茶餐厅", zhang, [60, 35], now, **at(north_km=-2.5)),
        "churned_4km": with_history("渔港酒家", zhang, [70, 33], now, **at(east_km=-4.2)),
        "churned_far": with_history("东莞老店", zhang, [90, 60], now, **at(north_km=30)),
        # Mine and ordering to rhythm: never listed.
        "active": with_history("活跃饭店", zhang, [6, 4, 2], now, **at(north_km=0.1)),
        # Another rep's churned customer, the nearest of all: never shown to 张三.
        "theirs": with_history("别人的店", li, [45, 40], now, **at(north_km=0.2)),
    }
    result = churn_sweep(now=now)
    assert (result.new_churned, result.new_at_risk) == (5, 1)
    return {"now": now, "zhang": zhang, "li": li, **customers}


def rep_login(page, base_url):
    page.goto(base_url + "/rep/login/")
    page.get_by_test_id("username").fill("zhangsan")
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def expect_nearby(page, customers, statuses):
    items = page.get_by_test_id("nearby-item")
    expect(items.get_by_test_id("nearby-name")).to_have_text([c.name for c in customers])
    expect(items.get_by_test_id("nearby-distance")).to_have_text([shown_distance(c) for c in customers])
    expect(items.get_by_test_id("nearby-status")).to_have_text(statuses)


def test_rep_is_alerted_opens_the_last_order_walks_the_nearby_list_and_wins_the_customer_back(
        live_server, world, new_phone, screenshot):
    zhang, now = world["zhang"], world["now"]
    churned = world["churned_near"]
    last_order = churned.orders_made[-1]
    phone = new_phone(geolocation={"latitude": HERE_WGS84[0], "longitude": HERE_WGS84[1]}, permissions=["geolocation"])
    page = phone.new_page()

    # The assistant: 5 of my customers to win back, and tonight's alerts in the inbox.
    rep_login(page, live_server.url)
    expect(page).to_have_url(live_server.url + "/rep/")
    expect(page.get_by_test_id("lapsing-count")).to_have_text("5")
    alerts = page.get_by_test_id("inbox-item")
    expect(alerts).to_have_count(5)
    expect(alerts.get_by_test_id("inbox-title")).to_contain_text(["流失预警：海鲜大排档"])
    alert = alerts.filter(has_text="已流失：湘味小馆")
    expect(alert.get_by_test_id("inbox-body")).to_have_text(
        f"40 天未下单，上次下单 {timezone.localtime(last_order.paid_at):%m-%d}")
    expect(alert.get_by_test_id("inbox-time")).to_have_text(re.compile(r"^\d\d-\d\d \d\d:\d\d$"))
    expect(page.get_by_test_id("inbox")).not_to_contain_text("别人的店")
    screenshot(page, "inbox")

    # The alert opens the customer on the last order, marked and scrolled into view.
    alert.locator("a").click()
    expect(page).to_have_url(f"{live_server.url}/rep/customers/{churned.pk}/?order={last_order.pk}")
    expect(page.get_by_test_id("customer-name")).to_have_text("湘味小馆")
    expect(page.get_by_test_id("customer-status")).to_have_text("已流失")
    orders = page.get_by_test_id("order")
    expect(orders).to_have_count(3)
    marked = page.locator('[data-testid="order"][data-highlighted="true"]')
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-order-id", str(last_order.pk))
    expect(marked).to_have_class(re.compile("rep-order_highlight"))
    expect(marked).to_contain_text("上次下单")
    expect(marked).to_be_in_viewport()
    expect(page.get_by_test_id("highlight-banner")).to_contain_text(last_order.number)
    screenshot(page, "customer-last-order")

    # Nearby: asks for the position, lists my lapsing customers nearest first (3 km by default).
    page.get_by_test_id("back").click()
    page.get_by_test_id("nearby-link").click()
    expect(page).to_have_url(live_server.url + "/rep/nearby/")
    expect_nearby(page, [churned, world["at_risk"], world["churned_mid"]], ["已流失", "预警", "已流失"])
    assert [shown_distance(c) for c in (churned, world["at_risk"], world["churned_mid"])] == [
        "300 m", "1.2 km", "2.5 km"]
    expect(page.get_by_test_id("nearby-count")).to_have_text("3 家，由近到远")
    expect(page.get_by_test_id("nearby-list")).not_to_contain_text("别人的店")
    expect(page.get_by_test_id("nearby-list")).not_to_contain_text("活跃饭店")
    first = page.get_by_test_id("nearby-item").first
    expect(first.get_by_test_id("nearby-phone")).to_have_text(f"☎ {churned.phone}")
    expect(first.get_by_test_id("nearby-phone")).to_have_attribute("href", f"tel:{churned.phone}")
    last_day = timezone.localdate(churned.last_order_at)
    expect(first.get_by_test_id("nearby-last-order")).to_have_text(
        f"最近下单 {last_day:%Y-%m-%d}（{(timezone.localdate(now) - last_day).days} 天前）")
    nav = urlparse(first.get_by_test_id("nearby-nav").get_attribute("href"))
    assert (nav.scheme, nav.netloc, nav.path) == ("https", "uri.amap.com", "/marker")
    assert nav.query.startswith(f"position={churned.longitude},{churned.latitude}&")
    assert parse_qs(nav.query)["name"] == ["湘味小馆"]
    screenshot(page, "nearby-3km")

    # A wider radius brings in the one 4.2 km away; the one 30 km away stays out even at 10 km.
    page.get_by_test_id("radius-5").click()
    expect(page.get_by_test_id("radius-5")).to_have_attribute("aria-pressed", "true")
    expect_nearby(page, [churned, world["at_risk"], world["churned_mid"], world["churned_4km"]],
                  ["已流失", "预警", "已流失", "已流失"])
    page.get_by_test_id("radius-10").click()
    expect(page.get_by_test_id("nearby-count")).to_have_text("4 家，由近到远")
    expect(page.get_by_test_id("nearby-list")).not_to_contain_text("东莞老店")
    screenshot(page, "nearby-10km")

    # The restaurant orders again: reactivated, and the win-back credited to 张三.
    with transaction.atomic():
        won_back = customer_record_payment(customer_id=churned.pk, paid_at=timezone.now())
    assert won_back is True
    churned.refresh_from_db()
    assert churned.status == Customer.Status.ACTIVE
    event = ChurnEvent.objects.get(customer=churned, kind=ChurnEvent.Kind.REACTIVATED)
    assert (event.rep, event.night) == (zhang, timezone.localdate())
    assert not ChurnEvent.objects.filter(kind=ChurnEvent.Kind.REACTIVATED).exclude(pk=event.pk).exists()

    # …and drops off the list of customers to walk in on.
    page.get_by_test_id("relocate").click()
    expect_nearby(page, [world["at_risk"], world["churned_mid"], world["churned_4km"]], ["预警", "已流失", "已流失"])
    page.goto(live_server.url + "/rep/")
    expect(page.get_by_test_id("lapsing-count")).to_have_text("4")
    screenshot(page, "after-win-back")


def test_nearby_map_shows_markers_with_configured_tiles_and_the_list_without(live_server, world, new_phone,
                                                                            screenshot, settings):
    phone = new_phone(geolocation={"latitude": HERE_WGS84[0], "longitude": HERE_WGS84[1]}, permissions=["geolocation"])
    page = phone.new_page()
    rep_login(page, live_server.url)
    # Nothing leaves the machine: every tile is a local image.
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1|localhost)"), lambda route: route.abort())

    page.goto(live_server.url + "/rep/nearby/")
    expect(page.get_by_test_id("nearby-item")).to_have_count(3)
    expect(page.get_by_test_id("view-map")).to_have_count(0)  # no tiles configured: the list alone
    assert page.evaluate("() => typeof window.L") == "undefined"

    settings.MAP_TILE_URL = live_server.url + "/static/vendor/leaflet/images/layers.png?z={z}&x={x}&y={y}"
    settings.MAP_TILE_ATTRIBUTION = "测试底图"
    page.reload()
    expect(page.get_by_test_id("nearby-item")).to_have_count(3)
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.get_by_test_id("view-map").click()
    expect(page.get_by_test_id("map")).to_be_visible()
    expect(page.get_by_test_id("nearby-list")).to_be_hidden()
    # The radius circle, "me", and one marker per customer listed.
    expect(page.locator('[data-testid="map"] path.leaflet-interactive')).to_have_count(1 + 1 + 3)
    expect(page.locator('[data-testid="map"] img.leaflet-tile-loaded').first).to_be_visible()
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("测试底图")
    page.locator('[data-testid="map"] path.leaflet-interactive').nth(2).click(force=True)
    expect(page.locator(".rep-map-popup")).to_contain_text("湘味小馆")
    expect(page.locator(".rep-map-popup")).to_contain_text("300 m")
    screenshot(page, "nearby-map")
    assert errors == []

    page.get_by_test_id("view-list").click()
    expect(page.get_by_test_id("nearby-item")).to_have_count(3)


def test_nearby_without_location_permission_explains_what_to_do(live_server, world, new_phone):
    phone = new_phone()  # geolocation not granted
    page = phone.new_page()
    rep_login(page, live_server.url)
    page.goto(live_server.url + "/rep/nearby/")
    expect(page.get_by_test_id("location-problem")).to_contain_text("没有定位权限")
    expect(page.get_by_test_id("nearby-item")).to_have_count(0)
