"""Warehouse receiving: receipts and batches onto stock, the clerk's pages, scanning, and the
public traceability page."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import ValidationFailed
from logistics import receiving
from logistics.models import Batch, PurchaseTask, Receipt, Stock, StockMove
from logistics.receiving import ReceiptLineInput, product_for_scan, receipt_create
from logistics.roles import WAREHOUSE_GROUP
from logistics.selectors import stock_ledger_drift
from tests.factories import (
    DeliveryDriverFactory,
    ProductFactory,
    PurchasingDriverFactory,
    SupplierFactory,
    product_with_stock,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clerk():
    user = User.objects.create_user("clerk", password="pw-clerk-1", first_name="小仓")
    user.groups.add(Group.objects.get_or_create(name=WAREHOUSE_GROUP)[0])
    return user


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


@pytest.fixture
def supplier():
    return SupplierFactory(name="南澳水产")


@pytest.fixture
def fish(supplier):
    """Sold by the bag, 10 on hand at an average cost of 20.00."""
    product = product_with_stock(on_hand="10", code="FISH01", name="冻带鱼段", unit="袋", default_supplier=supplier)
    Stock.objects.filter(product=product).update(average_cost=Decimal("20.0000"))
    return product


@pytest.fixture
def prawns(supplier):
    """Sold by the box at actual weight: a weight is required."""
    return ProductFactory(code="PRAWN01", name="黑虎虾", unit="箱", catch_weight=True, nominal_weight=Decimal("4.00"))


def snapshot():
    return (Receipt.objects.count(), Batch.objects.count(), StockMove.objects.count(),
            list(Stock.objects.order_by("pk").values_list("on_hand", "reserved", "average_cost")))


def good_line(product, **overrides):
    """Produced 17 days ago, good for a year (from today, travelled or not)."""
    today = timezone.localdate()
    values = {"product_id": product.pk, "quantity": "30", "unit_cost": "24.00",
              "production_date": (today - timedelta(days=17)).isoformat(),
              "expiry_date": (today + timedelta(days=365)).isoformat()}
    return ReceiptLineInput(**{**values, **overrides})


# --- The service --------------------------------------------------------------------------------

@time_machine.travel(datetime(2025, 6, 18, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_receiving_puts_each_batch_on_stock_with_the_ledger_and_average_cost(clerk, supplier, fish, prawns):
    receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, note="早班到货", lines=[
        good_line(fish),
        ReceiptLineInput(product_id=prawns.pk, quantity="5", weight="21.35", unit_cost="152.5",
                         production_date=date(2025, 6, 10), expiry_date=date(2025, 12, 10)),
    ])

    batches = list(receipt.batches.order_by("pk"))
    assert [(b.code, b.product, b.quantity, b.weight, b.unit_cost) for b in batches] == [
        ("B2506180001", fish, Decimal("30.00"), None, Decimal("24.0000")),
        ("B2506180002", prawns, Decimal("5.00"), Decimal("21.35"), Decimal("152.5000")),
    ]
    assert (batches[0].production_date, batches[0].expiry_date) == (date(2025, 6, 1), date(2026, 6, 18))
    assert (receipt.supplier, receipt.received_by, receipt.note) == (supplier, clerk, "早班到货")
    fish_stock = Stock.objects.get(product=fish)
    assert (fish_stock.on_hand, fish_stock.average_cost) == (Decimal("40.00"), Decimal("23.0000"))  # (10×20+30×24)/40
    prawn_stock = Stock.objects.get(product=prawns)
    assert (prawn_stock.on_hand, prawn_stock.average_cost) == (Decimal("5.00"), Decimal("152.5000"))
    moves = StockMove.objects.filter(kind="receipt").order_by("pk")
    assert [(m.stock.product_id, m.on_hand_delta, m.unit_cost, m.reference) for m in moves] == [
        (fish.pk, Decimal("30.00"), Decimal("24.0000"), "B2506180001"),
        (prawns.pk, Decimal("5.00"), Decimal("152.5000"), "B2506180002"),
    ]
    assert stock_ledger_drift() == []


def test_batch_numbers_count_per_local_day(clerk, supplier, fish):
    # 23:30 in Shanghai is 15:30 UTC: the code carries the local date.
    with time_machine.travel(datetime(2025, 6, 18, 23, 30, tzinfo=SHANGHAI), tick=False):
        first = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])
        second = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish), good_line(fish)])
    with time_machine.travel(datetime(2025, 6, 19, 0, 30, tzinfo=SHANGHAI), tick=False):
        third = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])

    codes = [[b.code for b in r.batches.order_by("pk")] for r in (first, second, third)]
    assert codes == [["B2506180001"], ["B2506180002", "B2506180003"], ["B2506190001"]]


def test_a_clash_of_batch_numbers_is_retried_with_fresh_ones(clerk, supplier, fish, monkeypatch):
    with time_machine.travel(datetime(2025, 6, 18, 9, 0, tzinfo=SHANGHAI), tick=False):
        receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])
        real_next_codes = receiving.batch_codes_next
        calls = []

        def stale_then_real(day, count):
            # The first attempt reads the numbers before another receipt committed its batch.
            calls.append(day)
            return ["B2506180001"] if len(calls) == 1 else real_next_codes(day, count)

        monkeypatch.setattr(receiving, "batch_codes_next", stale_then_real)
        receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])

    assert len(calls) == 2
    assert [b.code for b in receipt.batches.all()] == ["B2506180002"]
    assert Receipt.objects.count() == 2 and Batch.objects.count() == 2
    assert StockMove.objects.filter(kind="receipt").count() == 2
    assert Stock.objects.get(product=fish).on_hand == Decimal("70.00")
    assert stock_ledger_drift() == []


def test_a_receipt_can_be_linked_to_the_purchase_task_of_its_supplier(clerk, supplier, fish):
    task = PurchaseTask.objects.create(supplier=supplier, for_date=timezone.localdate())
    receipt = receipt_create(received_by=clerk, supplier_id=str(supplier.pk), purchase_task_id=str(task.pk),
                             lines=[good_line(fish, production_date="", expiry_date="")])
    assert receipt.purchase_task == task
    batch = receipt.batches.get()
    assert (batch.production_date, batch.expiry_date) == (None, None)


TODAY = date(2025, 6, 18)


@pytest.mark.parametrize(("change", "message"), [
    ({"supplier_id": ""}, "请选择供应商"),
    ({"supplier_id": "999999"}, "供应商不存在"),
    ({"lines": []}, "请至少添加一个商品"),
    ({"line": {"product_id": ""}}, "第 1 行：请选择商品"),
    ({"line": {"product_id": "999999"}}, "第 1 行：请选择商品"),
    ({"line": {"quantity": ""}}, "第 1 行（冻带鱼段）：请填写数量"),
    ({"line": {"quantity": "0"}}, "数量必须大于 0"),
    ({"line": {"quantity": "-2"}}, "数量不能小于 0"),
    ({"line": {"quantity": "十"}}, "数量必须是数字"),
    ({"line": {"quantity": "1.234"}}, "数量最多 2 位小数"),
    ({"line": {"quantity": "1e9"}}, "数量过大"),
    ({"line": {"quantity": "1e30"}}, "数量过大"),
    ({"line": {"quantity": "-1e30"}}, "数量不能小于 0"),
    ({"line": {"quantity": "NaN"}}, "数量必须是数字"),
    ({"line": {"unit_cost": "Infinity"}}, "单位成本必须是数字"),
    ({"line": {"unit_cost": ""}}, "请填写单位成本"),
    ({"line": {"unit_cost": "-1"}}, "单位成本不能小于 0"),
    ({"line": {"unit_cost": "1.23456"}}, "单位成本最多 4 位小数"),
    ({"line": {"weight": "0"}}, "重量(斤)必须大于 0"),
    ({"line": {"production_date": "2025/06/01"}}, "生产日期格式不正确"),
    ({"line": {"production_date": "2025-06-19"}}, "生产日期不能晚于今天"),
    ({"line": {"production_date": "2025-06-10", "expiry_date": "2025-06-09"}}, "保质期不能早于生产日期"),
    ({"line": {"expiry_date": "2025-06-17"}}, "已过保质期，不能入库"),
])
@time_machine.travel(datetime(2025, 6, 18, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_bad_input_is_refused_with_nothing_stored(clerk, supplier, fish, change, message):
    before = snapshot()
    supplier_id = change.get("supplier_id", supplier.pk)
    lines = change.get("lines", [good_line(fish, **change.get("line", {}))])

    with pytest.raises(ValidationFailed) as refused:
        receipt_create(received_by=clerk, supplier_id=supplier_id, lines=lines)

    assert message in refused.value.message
    assert snapshot() == before


def test_catch_weight_goods_need_their_weight(clerk, supplier, prawns):
    with pytest.raises(ValidationFailed, match="第 1 行（黑虎虾）：按实重计价的商品必须填写重量"):
        receipt_create(received_by=clerk, supplier_id=supplier.pk,
                       lines=[ReceiptLineInput(product_id=prawns.pk, quantity="5", unit_cost="150")])
    assert not Batch.objects.exists() and not Stock.objects.filter(product=prawns).exists()


def test_one_bad_line_stops_the_whole_receipt(clerk, supplier, fish, prawns):
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[
            good_line(fish), good_line(prawns, weight=""), good_line(fish, unit_cost="x")])
    assert refused.value.details["lines"] == {2: "按实重计价的商品必须填写重量(斤)", 3: "单位成本必须是数字"}
    assert snapshot() == before


def test_an_inactive_supplier_or_a_task_of_another_supplier_is_refused(clerk, supplier, fish):
    before = snapshot()
    retired = SupplierFactory(is_active=False)
    with pytest.raises(ValidationFailed, match="该供应商已停用"):
        receipt_create(received_by=clerk, supplier_id=retired.pk, lines=[good_line(fish)])
    task = PurchaseTask.objects.create(supplier=SupplierFactory(), for_date=timezone.localdate())
    with pytest.raises(ValidationFailed, match="采购任务的供应商与所选供应商不一致"):
        receipt_create(received_by=clerk, supplier_id=supplier.pk, purchase_task_id=task.pk, lines=[good_line(fish)])
    assert snapshot() == before


# --- Finding the product --------------------------------------------------------------------------

def test_a_scan_finds_the_product_by_sku_batch_code_or_label_address(clerk, supplier, fish):
    receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])
    code = receipt.batches.get().code
    retired = ProductFactory(code="OLD-1", is_active=False)

    assert product_for_scan(text="FISH01") == fish
    assert product_for_scan(text=" fish01 ") == fish
    assert product_for_scan(text=code) == fish
    assert product_for_scan(text=f"https://seafood.example.com/t/{code}/") == fish
    assert product_for_scan(text=f"http://127.0.0.1:8000/t/{code.lower()}/?from=label") == fish
    assert product_for_scan(text="OLD-1") == retired  # goods arrive whether on sale or not


def test_the_lookup_endpoint(clerk_client, fish):
    found = clerk_client.get("/ops/receiving/lookup", {"code": "FISH01"})
    assert found.status_code == 200
    assert found.json()["product"] == {
        "id": fish.pk, "code": "FISH01", "name": "冻带鱼段", "spec": "1kg/袋", "unit": "袋", "unit_label": "袋",
        "catch_weight": False, "nominal_weight": None, "default_supplier_id": fish.default_supplier_id,
        "is_active": True}
    missing = clerk_client.get("/ops/receiving/lookup", {"code": "NOPE"})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "未找到编码为 NOPE 的商品"


# --- The clerk's pages ----------------------------------------------------------------------------

RECEIVING_PAGES = ["/ops/receiving/", "/ops/receiving/lookup?code=X"]


@pytest.mark.parametrize("url", RECEIVING_PAGES)
def test_anonymous_visitors_go_to_the_staff_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/ops/login/?next=")


@pytest.mark.parametrize("url", RECEIVING_PAGES)
def test_only_warehouse_clerks_may_receive(client, url, supplier, fish):
    for user in (PurchasingDriverFactory().user, DeliveryDriverFactory().user, User.objects.create_user("x")):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 403 and "仅限仓库人员" in response.content.decode()
    before = snapshot()
    client.post("/ops/receiving/", {"supplier": supplier.pk, "product": fish.pk, "quantity": "1",
                                    "unit_cost": "1"})
    assert snapshot() == before


def test_a_clerk_logs_in_and_lands_on_receiving(client, clerk):
    response = client.post("/ops/login/", {"username": "clerk", "password": "pw-clerk-1"})
    assert response.status_code == 302 and response["Location"] == "/ops/receiving/"


def test_the_form_page_offers_suppliers_tasks_and_the_scanner(clerk_client, supplier):
    task = PurchaseTask.objects.create(supplier=supplier, for_date=timezone.localdate())
    page = clerk_client.get("/ops/receiving/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "南澳水产" in text and f'value="{task.pk}"' in text
    assert "/static/vendor/html5-qrcode/html5-qrcode.min.js" in text and "/static/js/ops_receiving.js" in text
    state = json.loads(text.split('id="receiving-state" type="application/json">')[1].split("</script>")[0])
    assert state["search_url"] == "/api/v1/catalog/products"
    assert state["lookup_url"] == "/ops/receiving/lookup"
    assert state["supplier"] == ""
    # Opened for a purchase task, the task and its supplier are chosen.
    state = clerk_client.get(f"/ops/receiving/?task={task.pk}").context["state"]
    assert (state["purchase_task"], state["supplier"]) == (str(task.pk), str(supplier.pk))


def test_the_scanner_library_is_served(client):
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/html5-qrcode/html5-qrcode.min.js")
    assert finders.find("js/ops_receiving.js")


@time_machine.travel(datetime(2025, 6, 18, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_submitting_the_form_receives_every_row(clerk_client, clerk, supplier, fish, prawns):
    response = clerk_client.post("/ops/receiving/", {
        "supplier": supplier.pk, "purchase_task": "", "note": "",
        "product": [fish.pk, prawns.pk, ""], "quantity": ["30", "5", ""], "weight": ["", "21.35", ""],
        "production_date": ["2025-06-01", "", ""], "expiry_date": ["2026-06-01", "", ""],
        "unit_cost": ["24", "152.5", ""],
    })

    receipt = Receipt.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/ops/receiving/{receipt.pk}/"
    assert list(receipt.batches.order_by("pk").values_list("code", "product", "weight")) == [
        ("B2506180001", fish.pk, None), ("B2506180002", prawns.pk, Decimal("21.35"))]
    assert receipt.received_by == clerk
    assert stock_ledger_drift() == []

    detail = clerk_client.get(response["Location"]).content.decode()
    assert "B2506180001" in detail and "黑虎虾" in detail and "21.35 斤" in detail
    assert f"/ops/receiving/{receipt.pk}/labels.pdf" in detail


def test_a_refused_form_keeps_what_was_typed_and_stores_nothing(clerk_client, supplier, fish, prawns):
    before = snapshot()
    response = clerk_client.post("/ops/receiving/", {
        "supplier": supplier.pk, "product": [fish.pk, prawns.pk], "quantity": ["30", "5"], "weight": ["", ""],
        "production_date": ["", ""], "expiry_date": ["", ""], "unit_cost": ["24", "150"],
    })

    assert response.status_code == 400
    text = response.content.decode()
    assert "未入库，请改正" in text and "第 2 行（黑虎虾）：按实重计价的商品必须填写重量(斤)" in text
    state = response.context["state"]
    assert state["supplier"] == str(supplier.pk)
    assert [(row["product"]["code"], row["quantity"], row["unit_cost"]) for row in state["lines"]] == [
        ("FISH01", "30", "24"), ("PRAWN01", "5", "150")]
    assert snapshot() == before


def test_another_receipt_id_is_a_404(clerk_client):
    assert clerk_client.get("/ops/receiving/999999/").status_code == 404
    assert clerk_client.get("/ops/receiving/999999/labels.pdf").status_code == 404


def test_the_pages_cost_the_same_queries_for_few_and_many_rows(clerk_client, clerk, supplier, fish):
    receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])
    PurchaseTask.objects.create(supplier=supplier, for_date=timezone.localdate())

    def cost(url):
        with CaptureQueriesContext(connection) as queries:
            assert clerk_client.get(url).status_code == 200
        return len(queries)

    few = cost("/ops/receiving/"), cost(f"/ops/receiving/{receipt.pk}/")
    products = [ProductFactory() for _ in range(12)]
    big = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(p) for p in products])
    for _ in range(12):
        other = SupplierFactory()
        receipt_create(received_by=clerk, supplier_id=other.pk, lines=[good_line(fish)])
        PurchaseTask.objects.create(supplier=other, for_date=timezone.localdate() + timedelta(days=1),
                                    driver=PurchasingDriverFactory())
    many = cost("/ops/receiving/"), cost(f"/ops/receiving/{big.pk}/")
    assert many == few
    assert max(many) <= 8


# --- Traceability ----------------------------------------------------------------------------------

@time_machine.travel(datetime(2025, 6, 18, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_the_traceability_page_is_public_and_shows_nothing_private(client, clerk, supplier):
    product = ProductFactory(name="阿根廷红虾", spec="2kg/盒", origin="阿根廷", unit="盒")
    receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[
        ReceiptLineInput(product_id=product.pk, quantity="37", weight="74.5", unit_cost="187.6543",
                         production_date="2025-05-02", expiry_date="2026-05-01")])
    code = receipt.batches.get().code

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/t/{code}/")

    text = response.content.decode()
    assert response.status_code == 200 and len(queries) <= 2
    for shown in ("阿根廷红虾", "2kg/盒", "阿根廷", "南澳水产", code, "2025-05-02", "2026-05-01", "2025-06-18"):
        assert shown in text
    for private in ("187.65", "187.6543", "成本", "74.5", "clerk", "小仓"):
        assert private not in text
    assert client.get(f"/t/{code.lower()}/").status_code == 200


def test_an_unknown_batch_is_a_friendly_404(client):
    response = client.get("/t/B0000000000/")
    assert response.status_code == 404 and "未找到该批次" in response.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_receiving_at_once_get_distinct_batch_numbers(monkeypatch):
    """Both read the same next number before either commits; the loser retries with fresh ones."""
    import threading

    from django.db import close_old_connections

    clerk_user = User.objects.create_user("clerk-a")
    supplier = SupplierFactory()
    product = ProductFactory()
    real_next_codes = receiving.batch_codes_next
    barrier = threading.Barrier(2, timeout=10)
    first_reads = set()

    def next_codes_in_step(day, count):
        codes = real_next_codes(day, count)
        if threading.get_ident() not in first_reads:
            first_reads.add(threading.get_ident())
            barrier.wait()  # both hold the same numbers now
        return codes

    monkeypatch.setattr(receiving, "batch_codes_next", next_codes_in_step)
    errors = []

    def receive():
        try:
            receipt_create(received_by=clerk_user, supplier_id=supplier.pk, lines=[
                ReceiptLineInput(product_id=product.pk, quantity="2", unit_cost="10")])
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=receive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    today = timezone.localdate().strftime("%y%m%d")
    assert sorted(Batch.objects.values_list("code", flat=True)) == [f"B{today}0001", f"B{today}0002"]
    assert Stock.objects.get(product=product).on_hand == Decimal("4.00")
    assert stock_ledger_drift() == []


def test_admin_lists_receipts_and_batches_read_only(client, clerk, supplier, fish):
    receipt = receipt_create(received_by=clerk, supplier_id=supplier.pk, lines=[good_line(fish)])
    code = receipt.batches.get().code
    client.force_login(User.objects.create_superuser("boss", password="pw-boss-1"))

    def cost(url):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    receipts, few_receipts = cost("/admin/logistics/receipt/")
    batches, few_batches = cost("/admin/logistics/batch/")
    assert f"/ops/receiving/{receipt.pk}/labels.pdf" in receipts
    assert code in batches and f"/t/{code}/" in batches
    change, _ = cost(f"/admin/logistics/receipt/{receipt.pk}/change/")
    assert code in change and 'name="_save"' not in change  # nothing to edit by hand
    assert client.get("/admin/logistics/receipt/add/").status_code == 403

    for _ in range(10):
        receipt_create(received_by=clerk, supplier_id=SupplierFactory().pk, lines=[good_line(fish), good_line(fish)])
    assert cost("/admin/logistics/receipt/")[1] == few_receipts
    assert cost("/admin/logistics/batch/")[1] == few_batches
