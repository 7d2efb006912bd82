"""The inventory turnover report in admin: period form, table, chart data, stock position, and the
"record today's snapshot" button."""

import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.db import transaction

from logistics.models import InventoryValueSnapshot
from logistics.reports import inventory_value_snapshot
from logistics.services import stock_receive, stock_reserve, stock_ship
from tests.factories import CategoryFactory, ProductFactory, StockFactory, SubCategoryFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
URL = "/admin/logistics/inventoryvaluesnapshot/"
RECORD_URL = URL + "record/"


def at(day: date, hour: int = 10):
    return time_machine.travel(datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI), tick=False)


def received(product, quantity, cost):
    with transaction.atomic():
        stock_receive(product_id=product.pk, quantity=Decimal(quantity), unit_cost=Decimal(cost), reference="R")


def shipped(product, quantity):
    with transaction.atomic():
        stock_reserve(items={product.pk: Decimal(quantity)}, reference="O")
        stock_ship(product_id=product.pk, reserved_quantity=Decimal(quantity), shipped_quantity=Decimal(quantity),
                   reference="O")


def reserved(product, quantity):
    with transaction.atomic():
        stock_reserve(items={product.pk: Decimal(quantity)}, reference="O2")


def table(html: str, testid: str) -> dict[str, dict[str, str]]:
    """{category: {column: text}} of the rows marked data-testid=<testid>."""
    rows = {}
    for category, body in re.findall(rf'<tr[^>]*data-testid="{testid}" data-category="([^"]+)">(.*?)</tr>', html,
                                     re.S):
        rows[category] = dict(re.findall(r'data-col="(\w+)">([^<]*)<', body))
    return rows


def chart_data(html: str) -> dict:
    raw = re.search(r'<script id="turnover-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    return json.loads(raw)


def error_of(html: str) -> str:
    match = re.search(r'data-testid="period-error">([^<]*)<', html)
    return match.group(1) if match else ""


@pytest.fixture
def two_aisles():
    """冻虾类: 2,000 received on 11-01, 1,200 shipped on 11-02; 冻鱼类: 500 received, 100 shipped;
    snapshots at the end of both days; then 5 shrimp reserved for an order (on hand unchanged)."""
    shrimp_aisle, fish_aisle = CategoryFactory(name="冻虾类", sort_order=1), CategoryFactory(name="冻鱼类", sort_order=2)
    shrimp = ProductFactory(category=SubCategoryFactory(parent=shrimp_aisle, name="虾仁"))
    fish = ProductFactory(category=SubCategoryFactory(parent=fish_aisle, name="鱼段"))
    with at(date(2026, 11, 1)):
        received(shrimp, "100", "20.00")
        received(fish, "50", "10.00")
        inventory_value_snapshot(day=date(2026, 11, 1))
    with at(date(2026, 11, 2)):
        shipped(shrimp, "60")
        shipped(fish, "10")
        inventory_value_snapshot(day=date(2026, 11, 2))
        reserved(shrimp, "5")
    return {"shrimp": shrimp, "fish": fish}


def test_report_shows_turnover_per_category_and_overall_with_chart_and_stock_position(admin_client, two_aisles):
    with at(date(2026, 11, 3)):
        response = admin_client.get(URL, {"start": "2026-11-01", "end": "2026-11-02"})

    assert response.status_code == 200
    html = response.content.decode()
    assert error_of(html) == ""
    assert "2026-11-01 至 2026-11-02（2 天）" in html
    assert table(html, "turnover-row") == {
        "冻虾类": {"cogs": "1200.00", "average": "1400.00", "turnover": "0.86", "days": "2.3"},
        "冻鱼类": {"cogs": "100.00", "average": "450.00", "turnover": "0.22", "days": "9.1"},
        "全部": {"cogs": "1300.00", "average": "1850.00", "turnover": "0.70", "days": "2.9"},
    }
    # Now: shrimp 40 on hand (5 reserved) at 20.00, fish 40 at 10.00.
    assert table(html, "position-row") == {
        "冻虾类": {"skus": "1", "on_hand": "40.00", "reserved": "5.00", "available": "35.00", "value": "800.00"},
        "冻鱼类": {"skus": "1", "on_hand": "40.00", "reserved": "0.00", "available": "40.00", "value": "400.00"},
        "全部": {"skus": "2", "on_hand": "80.00", "reserved": "5.00", "available": "75.00", "value": "1200.00"},
    }
    assert chart_data(html) == {"labels": ["冻虾类", "冻鱼类", "全部"], "turnover": [0.86, 0.22, 0.7],
                                "days": [2.3, 9.1, 2.9]}
    assert "vendor/chartjs/chart.umd.js" in html and 'id="turnover-chart"' in html
    assert 'data-testid="overall-turnover">0.70<' in html
    assert "2 天有快照" in html and "最近快照：2026-11-02" in html
    assert 'data-testid="record-snapshot"' in html


def test_default_period_is_the_last_30_days_and_uses_todays_value_without_snapshots(admin_client):
    product = ProductFactory(category=SubCategoryFactory(parent=CategoryFactory(name="冻贝类")))
    with at(date(2026, 11, 20)):
        received(product, "10", "30.00")
        response = admin_client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "2026-10-22 至 2026-11-20（30 天）" in html
    assert 'name="start" value="2026-10-22"' in html and 'name="end" value="2026-11-20"' in html
    assert 'data-testid="no-snapshots"' in html
    assert table(html, "turnover-row")["全部"] == {"cogs": "0.00", "average": "300.00", "turnover": "0.00",
                                                   "days": "—"}


@pytest.mark.parametrize(("params", "message"), [
    ({"start": "2026-13-01"}, "开始日期格式不正确（如 2026-11-01）"),
    ({"start": "2026-11-01", "end": "tomorrow"}, "结束日期格式不正确（如 2026-11-30）"),
    ({"start": "2026-11-10", "end": "2026-11-01"}, "开始日期不能晚于结束日期"),
    ({"end": "2026-11-21"}, "结束日期不能晚于今天"),
    ({"start": "2025-01-01", "end": "2026-11-20"}, "日期范围最多 366 天"),
    ({"start": "0001-01-01", "end": "0001-01-05"}, "日期不能早于 2000-01-01"),
    ({"end": "0001-01-05"}, "日期不能早于 2000-01-01"),
    ({"start": "99999-01-01"}, "开始日期格式不正确（如 2026-11-01）"),
])
def test_bad_dates_give_a_clear_error_and_the_default_period(admin_client, params, message):
    with at(date(2026, 11, 20)):
        response = admin_client.get(URL, params)

    html = response.content.decode()
    assert response.status_code == 200
    assert error_of(html) == f"{message}。已显示最近 30 天。"
    assert "2026-10-22 至 2026-11-20（30 天）" in html


def test_record_button_writes_todays_snapshot_and_returns_to_the_period(admin_client, two_aisles):
    with at(date(2026, 11, 3)):
        response = admin_client.post(RECORD_URL, {"query": "start=2026-11-01&end=2026-11-02&evil=1"})
        again = admin_client.post(RECORD_URL, {"query": ""})  # idempotent: the same day is overwritten

    assert response.status_code == 302
    assert response["Location"] == URL + "?start=2026-11-01&end=2026-11-02"
    assert again["Location"] == URL
    today = {row.category.name if row.category else None: row.value
             for row in InventoryValueSnapshot.objects.filter(day=date(2026, 11, 3)).select_related("category")}
    assert today == {"冻虾类": Decimal("800.00"), "冻鱼类": Decimal("400.00"), None: Decimal("1200.00")}
    with at(date(2026, 11, 3)):
        page = admin_client.get(URL).content.decode()
    assert "已记录 2026-11-03 的库存金额快照：合计 ¥1200.00" in page


def test_record_is_post_only_and_needs_the_change_permission(client, admin_client, two_aisles):
    before = InventoryValueSnapshot.objects.count()
    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_inventoryvaluesnapshot"))
    client.force_login(viewer)

    assert admin_client.get(RECORD_URL).status_code == 405
    assert client.post(RECORD_URL).status_code == 403
    page = client.get(URL)
    assert page.status_code == 200
    assert 'data-testid="record-snapshot"' not in page.content.decode()
    assert InventoryValueSnapshot.objects.count() == before


def test_staff_without_the_view_permission_is_refused(client, two_aisles):
    clerk = User.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    client.force_login(clerk)

    assert client.get(URL).status_code == 403


def test_a_snapshot_row_cannot_be_edited_or_deleted(admin_client, two_aisles):
    snapshot = InventoryValueSnapshot.objects.get(day=date(2026, 11, 1), category__isnull=True)

    edited = admin_client.post(f"{URL}{snapshot.pk}/change/", {"day": "2026-11-01", "value": "1"})
    deleted = admin_client.post(f"{URL}{snapshot.pk}/delete/", {"post": "yes"})

    assert (edited.status_code, deleted.status_code) == (403, 403)
    snapshot.refresh_from_db()
    assert snapshot.value == Decimal("2500.00")


@pytest.mark.parametrize("n", [2, 25])
def test_query_count_does_not_grow_with_categories_products_or_days(admin_client, n, django_assert_max_num_queries):
    for i in range(n):
        aisle = CategoryFactory(name=f"分类甲{i}")
        for _ in range(3):
            product = ProductFactory(category=SubCategoryFactory(parent=aisle))
            StockFactory(product=product, on_hand=Decimal("10"))
    for day in range(n):
        inventory_value_snapshot(day=date(2026, 11, 1) + timedelta(days=day))
    admin_client.get(URL)  # the session and the admin's site-wide lookups are warm

    with at(date(2026, 11, 30)):
        # Session and user, five for the report (shipped cost, snapshot averages, category names,
        # stock position, snapshot days), two for the admin's sidebar (singleton settings).
        with django_assert_max_num_queries(9):
            response = admin_client.get(URL, {"start": "2026-11-01", "end": "2026-11-30"})

    assert response.status_code == 200
    assert len(table(response.content.decode(), "position-row")) == n + 1
