"""Purchasing: the roll-up of paid orders into purchase tasks, its nightly task and admin, and the
purchasing driver's pages."""

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from logistics.models import PurchaseTask, PurchaseTaskLine
from logistics.purchasing import (
    CollectedLine,
    purchase_quantity_for,
    purchase_task_confirm,
    purchase_tasks_build,
)
from logistics.roles import WAREHOUSE_GROUP
from logistics.tasks_purchasing import purchase_tasks_build_for_tomorrow
from tests.factories import (
    DeliveryDriverFactory,
    ProductFactory,
    PurchasingDriverFactory,
    SupplierFactory,
    product_with_stock,
    purchasing_order,
)

pytestmark = pytest.mark.django_db

DAY = date(2025, 6, 19)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def supplier():
    return SupplierFactory(name="南澳水产", address="深圳市南山区海鲜市场 3 号", latitude=Decimal("22.512345"),
                           longitude=Decimal("113.923456"), phone="13900000001", contact_name="林老板")


def lines_of(task):
    return list(task.lines.order_by("product_id").values_list(
        "product__code", "ordered_quantity", "available_quantity", "net_quantity", "purchase_quantity",
        "purchase_unit"))


# --- The roll-up ----------------------------------------------------------------------------------

def test_several_orders_of_a_sku_net_of_the_stock_that_covers_part(supplier):
    fish = product_with_stock(on_hand="10", code="FISH", unit="袋", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(fish, 5)])
    purchasing_order(delivery_date=DAY, items=[(fish, 3)], status="packing")
    purchasing_order(delivery_date=DAY, items=[(fish, 4)])

    report = purchase_tasks_build(for_date=DAY)

    task = PurchaseTask.objects.get()
    assert (task.supplier, task.for_date, task.status, task.driver) == (supplier, DAY, "open", None)
    # ordered 5 + 3 + 4 = 12, available 10: two bags to buy.
    assert lines_of(task) == [("FISH", Decimal("12.00"), Decimal("10.00"), Decimal("2.00"), Decimal("2.00"), "袋")]
    assert (report.created, report.lines, report.no_supplier, report.locked) == (1, 1, [], [])


def test_only_paid_and_packing_orders_for_that_date_count(supplier):
    shrimp = ProductFactory(code="SHRIMP", unit="袋", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(shrimp, 2)])  # counts
    for status in ("pending_payment", "cancelled", "packed", "out_for_delivery", "delivered", "completed"):
        purchasing_order(delivery_date=DAY, items=[(shrimp, 50)], status=status)
    purchasing_order(delivery_date=DAY + timedelta(days=1), items=[(shrimp, 70)])
    purchasing_order(delivery_date=DAY - timedelta(days=1), items=[(shrimp, 90)])

    purchase_tasks_build(for_date=DAY)

    assert lines_of(PurchaseTask.objects.get()) == [
        ("SHRIMP", Decimal("2.00"), Decimal("0.00"), Decimal("2.00"), Decimal("2.00"), "袋")]


def test_reserved_stock_is_not_available(supplier):
    """available = on hand − reserved now (the issue's rule): paid orders hold reservations, so the
    task buys back what they take beyond the stock nobody has been promised."""
    squid = product_with_stock(on_hand="10", code="SQUID", unit="袋", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(squid, 6)], reserve=True)
    purchasing_order(delivery_date=DAY + timedelta(days=1), items=[(squid, 3)], reserve=True)

    purchase_tasks_build(for_date=DAY)

    assert lines_of(PurchaseTask.objects.get()) == [
        ("SQUID", Decimal("6.00"), Decimal("1.00"), Decimal("5.00"), Decimal("5.00"), "袋")]


def test_stock_that_covers_everything_makes_no_task(supplier):
    crab = product_with_stock(on_hand="30", unit="只", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(crab, 30)])

    report = purchase_tasks_build(for_date=DAY)

    assert not PurchaseTask.objects.exists()
    assert (report.created, report.lines) == (0, 0)


CONVERSIONS = [
    ("斤", "箱", "20", "45", "0", "3.00", "箱"),       # 2.25 boxes → 3 (whole boxes)
    ("斤", "箱", "20", "45", "5", "2.00", "箱"),       # 40 斤 net → exactly 2 boxes
    ("只", "箱", "12", "25", "0", "3.00", "箱"),       # 2.08 boxes → 3
    ("袋", "", "1", "3.5", "0", "4.00", "袋"),         # bought by the bag as sold: whole bags
    ("斤", "", "1", "7.3", "0", "7.50", "斤"),         # loose by the 斤: up to the half 斤
    ("斤", "kg", "2", "5", "0", "2.50", "kg"),         # 5 斤 = 2.5 kg exactly
    ("斤", "kg", "2", "5.2", "0", "3.00", "kg"),       # 2.6 kg → 3.0 (half kg steps)
    ("斤", "件", "10", "11", "0", "2.00", "件"),       # a unit typed in admin counts whole
]


@pytest.mark.parametrize(
    ("unit", "purchase_unit", "factor", "ordered", "on_hand", "expected_quantity", "expected_unit"), CONVERSIONS)
def test_net_requirement_is_converted_to_purchase_units_and_rounded_up(
        supplier, unit, purchase_unit, factor, ordered, on_hand, expected_quantity, expected_unit):
    product = product_with_stock(on_hand=on_hand, unit=unit, purchase_unit=purchase_unit,
                                 purchase_factor=Decimal(factor), default_supplier=supplier, step_quantity="0.1",
                                 min_quantity="0.1")
    purchasing_order(delivery_date=DAY, items=[(product, ordered)])

    purchase_tasks_build(for_date=DAY)

    line = PurchaseTaskLine.objects.get()
    assert line.net_quantity == Decimal(ordered) - Decimal(on_hand)
    assert (line.purchase_quantity, line.purchase_unit) == (Decimal(expected_quantity), expected_unit)


def test_purchase_quantity_rounding_rule():
    assert purchase_quantity_for(net_quantity=Decimal("0"), purchase_factor=Decimal("1"), purchase_unit="箱") == 0
    assert purchase_quantity_for(net_quantity=Decimal("0.01"), purchase_factor=Decimal("20"),
                                 purchase_unit="箱") == Decimal("1.00")
    assert purchase_quantity_for(net_quantity=Decimal("10.01"), purchase_factor=Decimal("1"),
                                 purchase_unit="kg") == Decimal("10.50")
    assert purchase_quantity_for(net_quantity=Decimal("10.5"), purchase_factor=Decimal("1"),
                                 purchase_unit="斤") == Decimal("10.50")


def test_one_task_per_supplier_with_its_products(supplier):
    other = SupplierFactory(name="大鹏冻品")
    a = ProductFactory(code="A", default_supplier=supplier)
    b = ProductFactory(code="B", default_supplier=other)
    c = ProductFactory(code="C", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(a, 1), (b, 2)])
    purchasing_order(delivery_date=DAY, items=[(c, 3), (a, 1)])

    purchase_tasks_build(for_date=DAY)

    tasks = {task.supplier.name: [code for code, *_ in lines_of(task)]
             for task in PurchaseTask.objects.select_related("supplier")}
    assert tasks == {"南澳水产": ["A", "C"], "大鹏冻品": ["B"]}


def test_products_without_an_active_supplier_are_reported_not_dropped(supplier, caplog):
    orphan = ProductFactory(code="ORPHAN", name="无主鱿鱼", default_supplier=None)
    retired = ProductFactory(code="RETIRED", default_supplier=SupplierFactory(is_active=False))
    fine = ProductFactory(code="FINE", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(orphan, 4), (retired, 2), (fine, 1)])

    with caplog.at_level(logging.WARNING, logger="logistics.purchasing"):
        report = purchase_tasks_build(for_date=DAY)

    assert [(row["code"], row["net_quantity"], row["reason"]) for row in report.no_supplier] == [
        ("ORPHAN", Decimal("4.00"), "无默认供应商"), ("RETIRED", Decimal("2.00"), "默认供应商已停用")]
    assert [code for code, *_ in lines_of(PurchaseTask.objects.get())] == ["FINE"]
    assert "ORPHAN" in caplog.text and "RETIRED" in caplog.text


# --- Rerunning ----------------------------------------------------------------------------------

def test_rerun_with_nothing_new_changes_nothing(supplier):
    product = ProductFactory(default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(product, 2)])
    purchase_tasks_build(for_date=DAY)
    before = list(PurchaseTaskLine.objects.values())
    task_before = PurchaseTask.objects.values().get()

    report = purchase_tasks_build(for_date=DAY)

    assert list(PurchaseTaskLine.objects.values()) == before
    assert PurchaseTask.objects.values().get() == task_before
    assert (report.created, report.updated, report.unchanged, report.deleted) == (0, 0, 1, 0)


def test_rerun_recomputes_open_tasks_and_keeps_the_assigned_driver(supplier):
    keep = ProductFactory(code="KEEP", default_supplier=supplier)
    drop = ProductFactory(code="DROP", default_supplier=supplier)
    later = ProductFactory(code="LATER", default_supplier=supplier)
    first = purchasing_order(delivery_date=DAY, items=[(keep, 2), (drop, 5)])
    purchase_tasks_build(for_date=DAY)
    driver = PurchasingDriverFactory()
    PurchaseTask.objects.update(driver=driver)
    keep_line = PurchaseTaskLine.objects.get(product=keep)

    first.status = "cancelled"
    first.save()
    purchasing_order(delivery_date=DAY, items=[(keep, 3), (later, 1)])
    report = purchase_tasks_build(for_date=DAY)

    task = PurchaseTask.objects.get()
    assert task.driver == driver and task.status == "open"
    assert [(code, ordered, purchase) for code, ordered, _, _, purchase, _ in lines_of(task)] == [
        ("KEEP", Decimal("3.00"), Decimal("3.00")), ("LATER", Decimal("1.00"), Decimal("1.00"))]
    assert PurchaseTaskLine.objects.get(product=keep).pk == keep_line.pk  # changed in place
    assert (report.updated, report.created) == (1, 0)


def test_an_open_task_left_without_requirement_is_deleted(supplier):
    product = ProductFactory(default_supplier=supplier)
    order = purchasing_order(delivery_date=DAY, items=[(product, 2)])
    purchase_tasks_build(for_date=DAY)
    order.status = "cancelled"
    order.save()

    report = purchase_tasks_build(for_date=DAY)

    assert not PurchaseTask.objects.exists() and not PurchaseTaskLine.objects.exists()
    assert report.deleted == 1


def test_rerun_never_touches_a_collected_task(supplier):
    other = SupplierFactory(name="大鹏冻品")
    mine = ProductFactory(code="MINE", default_supplier=supplier)
    theirs = ProductFactory(code="THEIRS", default_supplier=other)
    purchasing_order(delivery_date=DAY, items=[(mine, 2), (theirs, 1)])
    purchase_tasks_build(for_date=DAY)
    driver = PurchasingDriverFactory()
    collected = PurchaseTask.objects.get(supplier=supplier)
    collected.driver = driver
    collected.save()
    line = collected.lines.get()
    purchase_task_confirm(driver=driver, task_id=collected.pk, lines={line.pk: CollectedLine(quantity="2")})
    before = list(collected.lines.values())
    collected_before = PurchaseTask.objects.values().get(pk=collected.pk)

    purchasing_order(delivery_date=DAY, items=[(mine, 7), (theirs, 4)])
    report = purchase_tasks_build(for_date=DAY)

    assert list(collected.lines.values()) == before
    assert PurchaseTask.objects.values().get(pk=collected.pk) == collected_before
    assert [(row["supplier"], row["status"]) for row in report.locked] == [("南澳水产", "collected")]
    # The other supplier's open task follows the new order.
    assert PurchaseTaskLine.objects.get(product=theirs).ordered_quantity == Decimal("5.00")

    # Even when the demand disappears, the collected task stays.
    from orders.models import Order
    Order.objects.update(status="cancelled")
    purchase_tasks_build(for_date=DAY)
    assert list(PurchaseTask.objects.values_list("supplier__name", flat=True)) == ["南澳水产"]


def test_the_build_runs_a_fixed_number_of_queries(supplier):
    def build_with(products: int, day: date) -> int:
        suppliers = [supplier, *(SupplierFactory() for _ in range(products // 5))]
        items = [(product_with_stock(on_hand="1", default_supplier=suppliers[i % len(suppliers)]), 3)
                 for i in range(products)]
        purchasing_order(delivery_date=day, items=items)
        with CaptureQueriesContext(connection) as first:
            purchase_tasks_build(for_date=day)
        # A rerun that changes every line costs the same handful.
        purchasing_order(delivery_date=day, items=[(product, 1) for product, _ in items])
        with CaptureQueriesContext(connection) as rerun:
            purchase_tasks_build(for_date=day)
        return len(first), len(rerun)

    few = build_with(2, DAY)
    many = build_with(40, DAY + timedelta(days=1))
    assert PurchaseTaskLine.objects.filter(task__for_date=DAY + timedelta(days=1)).count() == 40
    assert many == few
    assert max(many) <= 10


# --- The nightly task and admin --------------------------------------------------------------------

def test_the_nightly_task_builds_for_the_next_local_day(supplier):
    product = ProductFactory(default_supplier=supplier)
    purchasing_order(delivery_date=date(2025, 6, 19), items=[(product, 1)])
    purchasing_order(delivery_date=date(2025, 6, 20), items=[(product, 2)])

    # 23:05 in Shanghai is 15:05 UTC the same day.
    with time_machine.travel(datetime(2025, 6, 18, 23, 5, tzinfo=SHANGHAI), tick=False):
        result = purchase_tasks_build_for_tomorrow.delay().get()
    assert result["for_date"] == "2025-06-19" and result["created"] == 1

    # 07:00 in Shanghai is still the day before in UTC: "tomorrow" is the local one.
    with time_machine.travel(datetime(2025, 6, 19, 7, 0, tzinfo=SHANGHAI), tick=False):
        result = purchase_tasks_build_for_tomorrow.delay().get()
    assert result["for_date"] == "2025-06-20"
    assert sorted(PurchaseTask.objects.values_list("for_date", flat=True)) == [date(2025, 6, 19), date(2025, 6, 20)]


def test_the_nightly_task_warns_when_it_runs_before_the_cutoff(supplier, caplog):
    with time_machine.travel(datetime(2025, 6, 18, 22, 0, tzinfo=SHANGHAI), tick=False), \
            caplog.at_level(logging.WARNING, logger="logistics.tasks_purchasing"):
        purchase_tasks_build_for_tomorrow.delay().get()
    assert "before the order cut-off 23:00" in caplog.text


def test_the_nightly_task_is_scheduled_after_the_cutoff():
    entry = settings.CELERY_BEAT_SCHEDULE["purchase-tasks-build"]
    assert entry["task"] == purchase_tasks_build_for_tomorrow.name
    assert entry["schedule"].hour == {23} and entry["schedule"].minute == {5}


@pytest.fixture
def admin_client_(client):
    client.force_login(User.objects.create_superuser("boss", password="pw-boss-1"))
    return client


def test_admin_builds_the_tasks_for_a_chosen_date_and_reports_products_without_supplier(admin_client_, supplier):
    product = ProductFactory(default_supplier=supplier)
    orphan = ProductFactory(code="ORPHAN", name="无主鱿鱼")
    purchasing_order(delivery_date=DAY, items=[(product, 2), (orphan, 1)])

    page = admin_client_.get("/admin/logistics/purchasetask/build/")
    assert page.status_code == 200
    response = admin_client_.post("/admin/logistics/purchasetask/build/", {"for_date": "2025-06-19"}, follow=True)

    assert response.redirect_chain[-1][0] == "/admin/logistics/purchasetask/?for_date=2025-06-19"
    text = response.content.decode()
    assert "新建 1" in text and "ORPHAN 无主鱿鱼（无默认供应商）" in text
    assert PurchaseTask.objects.get().for_date == DAY


def test_admin_assigns_a_purchasing_driver_and_shows_the_lines(admin_client_, supplier):
    product = ProductFactory(name="冻墨鱼仔", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(product, 2)])
    purchase_tasks_build(for_date=DAY)
    task = PurchaseTask.objects.get()
    driver = PurchasingDriverFactory(name="老周")
    delivery_driver = DeliveryDriverFactory(name="小李")

    page = admin_client_.get(f"/admin/logistics/purchasetask/{task.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200 and "冻墨鱼仔" in text and "老周" in text and "小李" not in text

    def form(driver_pk):
        return {"driver": driver_pk, "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1",
                "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000", "lines-0-id": task.lines.get().pk,
                "lines-0-task": task.pk}

    response = admin_client_.post(f"/admin/logistics/purchasetask/{task.pk}/change/", form(driver.pk))
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.driver == driver
    refused = admin_client_.post(f"/admin/logistics/purchasetask/{task.pk}/change/", form(delivery_driver.pk))
    assert refused.status_code == 200
    assert "只能分配给在职且未被暂停的进货司机" in refused.content.decode()
    task.refresh_from_db()
    assert task.driver == driver


def test_a_suspended_purchasing_driver_is_not_offered_and_cannot_be_given_a_task(admin_client_, supplier):
    from logistics.conduct import driver_suspend

    product = ProductFactory(name="冻墨鱼仔", default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(product, 2)])
    purchase_tasks_build(for_date=DAY)
    task = PurchaseTask.objects.get()
    kept, suspended = PurchasingDriverFactory(name="老周"), PurchasingDriverFactory(name="阿强")
    driver_suspend(driver_id=suspended.pk, actor="manager", reason="多次少提货")
    task.driver = kept
    task.save()

    page = admin_client_.get(f"/admin/logistics/purchasetask/{task.pk}/change/").content.decode()
    refused = admin_client_.post(f"/admin/logistics/purchasetask/{task.pk}/change/", {
        "driver": suspended.pk, "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1", "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000", "lines-0-id": task.lines.get().pk, "lines-0-task": task.pk})

    assert "老周" in page and "阿强" not in page
    assert refused.status_code == 200
    assert "只能分配给在职且未被暂停的进货司机" in refused.content.decode()
    task.refresh_from_db()
    assert task.driver == kept


def test_admin_action_rebuilds_the_selected_dates(admin_client_, supplier):
    product = ProductFactory(default_supplier=supplier)
    purchasing_order(delivery_date=DAY, items=[(product, 2)])
    purchase_tasks_build(for_date=DAY)
    purchasing_order(delivery_date=DAY, items=[(product, 3)])
    task = PurchaseTask.objects.get()

    admin_client_.post("/admin/logistics/purchasetask/", {"action": "rebuild_dates", "_selected_action": [task.pk]})

    assert task.lines.get().ordered_quantity == Decimal("5.00")


# --- The driver's pages ---------------------------------------------------------------------------

def _task(*, supplier, driver, for_date, products=1, quantity="3"):
    task = PurchaseTask.objects.create(supplier=supplier, driver=driver, for_date=for_date)
    for _ in range(products):
        product = ProductFactory(default_supplier=supplier)
        PurchaseTaskLine.objects.create(task=task, product=product, ordered_quantity=Decimal(quantity),
                                        available_quantity=Decimal("0"), net_quantity=Decimal(quantity),
                                        purchase_unit=product.unit, purchase_quantity=Decimal(quantity))
    return task


@pytest.fixture
def driver():
    return PurchasingDriverFactory(name="老周")


@pytest.fixture
def driver_client(client, driver):
    client.force_login(driver.user)
    return client


def test_a_driver_logs_in_and_lands_on_the_tasks(client, driver):
    response = client.post("/ops/login/", {"username": driver.user.username, "password": "pw-purchasing-1"})
    assert response.status_code == 302 and response["Location"] == "/ops/purchasing/"


def test_an_account_without_a_warehouse_role_cannot_log_in(client):
    User.objects.create_user("cook", password="pw-cook-1")
    response = client.post("/ops/login/", {"username": "cook", "password": "pw-cook-1"})
    assert response.status_code == 200
    assert "此账号不是仓库人员或司机，无法登录" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_anonymous_visitors_are_sent_to_the_staff_login(client):
    response = client.get("/ops/purchasing/")
    assert response.status_code == 302 and response["Location"] == "/ops/login/?next=/ops/purchasing/"


def test_only_purchasing_drivers_see_the_pages(client, supplier):
    clerk = User.objects.create_user("clerk", password="pw")
    clerk.groups.add(Group.objects.create(name=WAREHOUSE_GROUP))
    for user in (clerk, DeliveryDriverFactory().user, PurchasingDriverFactory(is_active=False).user):
        client.force_login(user)
        response = client.get("/ops/purchasing/")
        assert response.status_code == 403
        assert "仅限在职进货司机使用" in response.content.decode()


def test_the_driver_sees_own_tasks_for_today_and_tomorrow_with_navigation(driver_client, driver, supplier):
    today = timezone.localdate()
    mine_today = _task(supplier=supplier, driver=driver, for_date=today)
    mine_tomorrow = _task(supplier=SupplierFactory(name="大鹏冻品", address="大鹏新区 8 号"), driver=driver,
                          for_date=today + timedelta(days=1))
    later = _task(supplier=SupplierFactory(), driver=driver, for_date=today + timedelta(days=2))
    someone_elses = _task(supplier=SupplierFactory(), driver=PurchasingDriverFactory(), for_date=today)
    unassigned = _task(supplier=SupplierFactory(), driver=None, for_date=today)

    response = driver_client.get("/ops/purchasing/")

    text = response.content.decode()
    assert response.status_code == 200
    for task in (mine_today, mine_tomorrow):
        assert f'data-testid="task-{task.pk}"' in text
        assert task.lines.get().product.name in text
    for task in (later, someone_elses, unassigned):
        assert f'data-testid="task-{task.pk}"' not in text
    assert ("https://uri.amap.com/marker?position=113.923456%2C22.512345&amp;name=%E5%8D%97%E6%BE%B3%E6%B0%B4"
            "%E4%BA%A7") in text
    assert "https://uri.amap.com/search?keyword=" in text  # a supplier without coordinates: by address


def test_the_task_list_costs_the_same_queries_for_few_and_many_tasks(driver_client, driver):
    today = timezone.localdate()
    _task(supplier=SupplierFactory(), driver=driver, for_date=today)
    with CaptureQueriesContext(connection) as few:
        assert driver_client.get("/ops/purchasing/").status_code == 200
    for offset in range(8):
        _task(supplier=SupplierFactory(), driver=driver, for_date=today + timedelta(days=offset % 2), products=5)
    with CaptureQueriesContext(connection) as many:
        response = driver_client.get("/ops/purchasing/")
    assert response.content.decode().count('data-testid="task-') == 9
    assert len(many) == len(few) <= 8


def test_confirming_every_line_collected(driver_client, driver, supplier):
    task = _task(supplier=supplier, driver=driver, for_date=DAY, products=2)
    first, second = task.lines.order_by("pk")

    response = driver_client.post(f"/ops/purchasing/{task.pk}/", {
        f"quantity-{first.pk}": "3", f"weight-{first.pk}": "", f"reason-{first.pk}": "",
        f"quantity-{second.pk}": "4", f"weight-{second.pk}": "61.5",
    })

    assert response.status_code == 302 and response["Location"] == "/ops/purchasing/"
    task.refresh_from_db()
    assert task.status == "collected" and task.collected_at is not None
    collected = task.lines.order_by("pk").values_list("collected_quantity", "collected_weight", "shortfall_reason")
    assert list(collected) == [
        (Decimal("3.00"), None, ""), (Decimal("4.00"), Decimal("61.50"), "")]


def test_a_shortfall_needs_a_reason(driver_client, driver, supplier):
    task = _task(supplier=supplier, driver=driver, for_date=DAY, products=2)
    first, second = task.lines.order_by("pk")
    posted = {f"quantity-{first.pk}": "3", f"quantity-{second.pk}": "1", f"reason-{second.pk}": ""}

    refused = driver_client.post(f"/ops/purchasing/{task.pk}/", posted)

    assert refused.status_code == 400
    assert "实提少于计划（3袋），请填写缺货原因" in refused.content.decode()
    task.refresh_from_db()
    assert task.status == "open" and task.collected_at is None
    assert set(task.lines.values_list("collected_quantity", flat=True)) == {None}

    posted[f"reason-{second.pk}"] = "供应商缺货"
    accepted = driver_client.post(f"/ops/purchasing/{task.pk}/", posted)
    assert accepted.status_code == 302
    task.refresh_from_db()
    assert task.status == "short"
    assert list(task.lines.order_by("pk").values_list("collected_quantity", "shortfall_reason")) == [
        (Decimal("3.00"), ""), (Decimal("1.00"), "供应商缺货")]


@pytest.mark.parametrize(("quantity", "weight", "message"), [
    ("", "", "请填写实提数量"),
    ("abc", "", "实提数量必须是数字"),
    ("-1", "", "实提数量不能小于 0"),
    ("3", "0", "实提重量必须大于 0"),
    ("3.001", "", "实提数量最多 2 位小数"),
])
def test_bad_numbers_are_refused_with_nothing_stored(driver, supplier, quantity, weight, message):
    task = _task(supplier=supplier, driver=driver, for_date=DAY)
    line = task.lines.get()
    with pytest.raises(ValidationFailed) as refused:
        purchase_task_confirm(driver=driver, task_id=task.pk,
                              lines={line.pk: CollectedLine(quantity=quantity, weight=weight)})
    assert message in refused.value.message
    line.refresh_from_db()
    task.refresh_from_db()
    assert (task.status, line.collected_quantity, line.collected_weight) == ("open", None, None)


def test_goods_sold_by_actual_weight_need_the_collected_weight(driver, supplier):
    task = _task(supplier=supplier, driver=driver, for_date=DAY)
    line = task.lines.get()
    line.product.catch_weight, line.product.nominal_weight = True, Decimal("2.00")
    line.product.save()
    with pytest.raises(ValidationFailed, match="按实重计价的商品请填写实提重量"):
        purchase_task_confirm(driver=driver, task_id=task.pk, lines={line.pk: CollectedLine(quantity="3")})
    task = purchase_task_confirm(driver=driver, task_id=task.pk,
                                 lines={line.pk: CollectedLine(quantity="3", weight="6.4")})
    assert task.status == "collected"


def test_another_drivers_task_is_not_found(driver_client, driver, supplier):
    other = PurchasingDriverFactory()
    task = _task(supplier=supplier, driver=other, for_date=timezone.localdate())
    line = task.lines.get()

    assert driver_client.get(f"/ops/purchasing/{task.pk}/").status_code == 404
    response = driver_client.post(f"/ops/purchasing/{task.pk}/", {f"quantity-{line.pk}": "3"})
    assert response.status_code == 404
    with pytest.raises(NotFound):
        purchase_task_confirm(driver=driver, task_id=task.pk, lines={line.pk: CollectedLine(quantity="3")})
    task.refresh_from_db()
    line.refresh_from_db()
    assert (task.status, line.collected_quantity) == ("open", None)


def test_a_task_cannot_be_confirmed_twice(driver, supplier):
    task = _task(supplier=supplier, driver=driver, for_date=DAY)
    line = task.lines.get()
    purchase_task_confirm(driver=driver, task_id=task.pk, lines={line.pk: CollectedLine(quantity="3")})
    with pytest.raises(Conflict):
        purchase_task_confirm(driver=driver, task_id=task.pk,
                              lines={line.pk: CollectedLine(quantity="1", shortfall_reason="x")})
    line.refresh_from_db()
    assert line.collected_quantity == Decimal("3.00")


def test_lines_of_another_task_are_refused(driver, supplier):
    task = _task(supplier=supplier, driver=driver, for_date=DAY)
    foreign = _task(supplier=SupplierFactory(), driver=driver, for_date=DAY).lines.get()
    with pytest.raises(ValidationFailed, match="不属于该任务"), transaction.atomic():
        purchase_task_confirm(driver=driver, task_id=task.pk, lines={
            task.lines.get().pk: CollectedLine(quantity="3"), foreign.pk: CollectedLine(quantity="3")})


def test_the_task_page_shows_the_confirm_form_then_the_result(driver_client, driver, supplier):
    task = _task(supplier=supplier, driver=driver, for_date=DAY)
    line = task.lines.get()
    page = driver_client.get(f"/ops/purchasing/{task.pk}/").content.decode()
    assert 'data-testid="confirm-form"' in page and f'name="quantity-{line.pk}"' in page
    assert "南澳水产" in page and "uri.amap.com/marker" in page

    purchase_task_confirm(driver=driver, task_id=task.pk,
                          lines={line.pk: CollectedLine(quantity="2", shortfall_reason="只剩两袋")})
    page = driver_client.get(f"/ops/purchasing/{task.pk}/").content.decode()
    assert 'data-testid="confirm-form"' not in page
    assert "部分缺货" in page and "只剩两袋" in page



def test_the_worker_imports_the_purchasing_tasks():
    from seafood_b2b.celery import app

    # Autodiscovery imports each app's tasks.py only; this module has its own name.
    assert "logistics.tasks_purchasing" in app.conf.imports


def test_admin_task_list_costs_the_same_queries_for_few_and_many(admin_client_):
    _task(supplier=SupplierFactory(), driver=PurchasingDriverFactory(), for_date=DAY)

    def cost():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client_.get("/admin/logistics/purchasetask/")
        assert response.status_code == 200
        return len(queries), response.content.decode().count('name="_selected_action"')

    few = cost()
    for _ in range(10):
        _task(supplier=SupplierFactory(), driver=PurchasingDriverFactory(), for_date=DAY, products=3)
    many = cost()
    assert (few[1], many[1]) == (1, 11)
    assert many[0] == few[0]
