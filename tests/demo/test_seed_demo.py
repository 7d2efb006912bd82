import re
import uuid
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import models
from django.db.models import Count, F, Max, Min, Sum
from django.utils import timezone

from catalog.models import Category, Product
from catalog.search import build_search_key
from demo.seed import DemoPlan, demo_seed
from demo.catalog import product_specs
from demo.catalog_data import AISLES
from demo.entries import EntryCustomer, customer_entries, forwarding_rep_keys
from demo.history_plan import (
    DAYS_PER_MONTH,
    ORDER_FIELDS,
    Catalogue,
    CatalogueItem,
    CustomerRow,
    Rules,
    customer_history,
)
from demo.people import customer_specs, rep_specs
from demo.places_data import DISTRICTS, LAT_MAX, LAT_MIN, LNG_MAX, LNG_MIN
from customers.models import Customer, Visitor
import demo.logistics as demo_logistics
from demo.logistics import staff_specs
from logistics.models import Batch, DeliveryRun, Driver, PurchaseTask, Receipt, Stock, StockMove, Stop, Supplier
from logistics.dispatch import order_weights_kg
from logistics.roles import driver_for_user, is_warehouse_clerk
from logistics.selectors import stock_ledger_drift
from core.money import money
from customers.churn import customer_order_stats_drift
from orders.models import Order, OrderEvent, OrderLine, OrderSettings, Payment
from orders.services import delivery_date_for
from reps.models import EntryEvent, Rep, Scene
from reps.selectors import rep_flags
from tests.factories import ProductFactory, RepFactory

# Small enough to run in a second or two, big enough for every kind of row to appear
# (one month of order history keeps it quick; the history tests below seed six).
SMALL = DemoPlan(products=240, suppliers=5, reps=3, customers=300, history_months=1)
CATEGORY_COUNT = len(AISLES) + sum(len(shelves) for _, _, shelves in AISLES)


@pytest.fixture(autouse=True)
def _quick_routing(monkeypatch):
    # The solver always searches until its limit: a fraction of a second routes a test's few stops.
    monkeypatch.setattr(demo_logistics, "ROUTING_SECONDS", 0.2)


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Category, Product, Stock, StockMove, Supplier, Rep, Customer, get_user_model(), Visitor, Order,
                      OrderLine, Payment, OrderEvent, EntryEvent, Driver, Receipt, Batch, PurchaseTask, DeliveryRun,
                      Stop)
    }


@pytest.mark.django_db
def test_seed_demo_creates_every_kind_of_row_at_the_requested_scale():
    output = seed(scale=0.05, history_months=1)

    made = counts()
    received = dict(Batch.objects.values_list("product_id").annotate(total=Sum("quantity")))
    shipped = dict(StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT).values_list("stock__product_id")
                   .annotate(total=Sum("on_hand_delta")))
    with_opening = sum(on_hand - shipped.get(product_id, 0) > received.get(product_id, 0)
                       for product_id, on_hand in Stock.objects.values_list("product_id", "on_hand"))
    # Purchase tasks and runs depend on the day's orders (runs on the time of day: packed orders exist only early).
    history = {"Order", "OrderLine", "Payment", "OrderEvent", "EntryEvent", "Batch", "PurchaseTask", "DeliveryRun",
               "Stop"}
    assert {name: n for name, n in made.items() if name not in history} == {
        "Category": CATEGORY_COUNT,
        "Product": 150,
        "Stock": 150,
        # An opening row per product in stock before the history's shipments, a row per SKU shipped a day,
        # a receipt row per batch.
        "StockMove": with_opening + StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT).count() + made["Batch"],
        "Supplier": 2,
        "Rep": 1,
        "Customer": 250,
        "User": 5,  # admin, rep01, clerk01, purchase01, delivery01
        "Visitor": 250,
        "Driver": 2,
        "Receipt": 1,
    }
    assert StockMove.objects.filter(kind=StockMove.Kind.RECEIPT).count() == made["Batch"]
    assert 10 <= made["Batch"] <= 20
    assert "入库单：新增 1，已存在 0（" in output
    assert 250 * 4 <= made["Order"] <= 250 * 8  # about 6 a month each
    assert made["Payment"] == made["Order"]
    assert 3 * made["Order"] <= made["OrderLine"] <= 12 * made["Order"]
    assert f"历史订单：新增 {made['Order']}，已存在 0（" in output
    assert 250 + (made["Order"] - 250) * 0.4 <= made["EntryEvent"] <= 250 + (made["Order"] - 250) * 0.7
    assert f"进入记录：新增 {made['EntryEvent']}，已存在 0（" in output
    assert 36 <= CATEGORY_COUNT <= 50
    assert Category.objects.filter(parent__isnull=True).count() == len(AISLES)
    assert not Category.objects.filter(parent__parent__isnull=False).exists()  # two levels only
    assert not Product.objects.filter(category__parent__isnull=True).exists()  # products sit on shelves
    assert "商品：新增 150，已存在 0（" in output

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin12345")
    rep = Rep.objects.select_related("user").get()
    assert rep.user.username == "rep01"
    assert rep.user.check_password("rep12345")
    assert list(rep.user.groups.values_list("name", flat=True)) == ["业务员"]
    assert rep.territory in DISTRICTS


@pytest.mark.django_db
def test_rerun_with_the_same_seed_adds_nothing_and_changes_nothing():
    demo_seed(plan=SMALL)
    before = counts()
    product_rows = Product.objects.order_by("code").values_list("code", "name", "price", "default_supplier__name")
    customer_rows = Customer.objects.order_by("phone").values_list("phone", "name", "latitude", "rep__key")
    products, customers = list(product_rows), list(customer_rows)

    results = demo_seed(plan=SMALL)

    assert [r.created for r in results] == [0] * len(results)
    assert counts() == before
    assert list(product_rows.all()) == products  # .all(): a fresh query, not the cached rows
    assert list(customer_rows.all()) == customers


@pytest.mark.django_db
def test_rerun_recreates_only_what_is_missing():
    plan = replace(SMALL, history_months=0)  # a customer with orders cannot be deleted
    demo_seed(plan=plan)
    deleted = sorted(Customer.objects.order_by("phone").values_list("phone", flat=True)[:5])
    Customer.objects.filter(phone__in=deleted).delete()

    results = {r.label: r for r in demo_seed(plan=plan)}

    assert (results["客户"].created, results["客户"].existing) == (5, 295)
    assert Customer.objects.filter(phone__in=deleted).count() == 5
    assert Customer.objects.count() == 300


@pytest.mark.django_db
def test_a_larger_scale_adds_only_the_difference():
    demo_seed(plan=SMALL)
    customers = list(Customer.objects.order_by("phone").values_list("phone", "name", "rep__key"))

    orders_before, entries_before = Order.objects.count(), EntryEvent.objects.count()

    results = {
        r.label: r.created
        for r in demo_seed(plan=DemoPlan(products=300, suppliers=6, reps=4, customers=360, history_months=1))
    }

    new_orders = results.pop("历史订单")
    new_entries = results.pop("进入记录")
    del results["采购任务"], results["配送线路"]  # built for the day's orders once, then left alone
    # The figures derived from the history: the new restaurants' rhythm, whoever the sweep finds, today's values.
    del results["客户下单节奏"], results["流失扫描"], results["断购扫描"], results["库存金额快照"]
    assert 60 <= results.pop("客户标签") <= 120  # each new restaurant: a size, and a business type if its name says
    assert results == {"管理员": 0, "分类": 0, "供应商": 1, "商品": 60, "商品图片": 60, "库存": 60, "业务员": 1, "客户": 60,
                       "访客": 60, "仓管与司机": 0, "入库单": 0, "历史出库": 0, "周期任务": 0,
                       "投诉": 0, "优惠券": 0}  # shipments are booked once
    assert customer_order_stats_drift() == []
    assert new_orders == Order.objects.count() - orders_before
    assert 60 <= new_orders <= 60 * 12
    assert new_entries == EntryEvent.objects.count() - entries_before
    assert not Visitor.objects.filter(entries__isnull=True).exists()  # and their entries
    assert not Customer.objects.filter(orders__isnull=True).exists()  # the 60 new restaurants got history too
    assert Product.objects.count() == Stock.objects.count() == 300
    assert set(customers) <= set(Customer.objects.values_list("phone", "name", "rep__key"))
    assert stock_ledger_drift() == []


def test_generation_is_deterministic_for_a_seed():
    other = DemoPlan(products=240, suppliers=5, reps=3, customers=300, seed=7)
    same = DemoPlan(products=240, suppliers=5, reps=3, customers=300)

    assert list(product_specs(SMALL)) == list(product_specs(same))
    assert list(customer_specs(SMALL)) == list(customer_specs(SMALL))
    assert rep_specs(SMALL) == rep_specs(SMALL)
    assert [p.name for p in product_specs(other)] != [p.name for p in product_specs(SMALL)]
    assert [c.phone for c in customer_specs(other)] != [c.phone for c in customer_specs(SMALL)]


def test_scale_sets_the_volumes():
    assert DemoPlan.for_scale(1) == DemoPlan(products=3000, suppliers=30, reps=10, customers=5000, history_months=6)
    plan = DemoPlan.for_scale(10, seed=5, history_months=2)
    assert (plan.products, plan.suppliers, plan.reps, plan.customers, plan.seed, plan.history_months) == (
        30000, 300, 100, 50000, 5, 2)


def test_names_and_phones_are_distinct_at_full_scale():
    plan = DemoPlan.for_scale(1)
    names = [p.name for p in product_specs(plan)]
    phones = [c.phone for c in customer_specs(plan)]

    assert len(set(names)) == len(names) == 3000
    assert len(set(phones)) == len(phones) == 5000
    assert all(len(phone) == 11 and phone.isdigit() and phone[0] == "1" for phone in phones)
    assert sum("虾仁" in name for name in names) >= 20


@pytest.mark.django_db
def test_if_empty_does_nothing_when_products_exist():
    ProductFactory()
    before = counts()

    output = seed(scale=0.05, if_empty=True)

    assert output.strip() == "已有商品数据，跳过生成演示数据。"
    assert counts() == before


@pytest.mark.django_db
def test_if_empty_seeds_an_empty_database():
    seed(scale=0.02, if_empty=True, history_months=1)

    assert Product.objects.count() == 60
    assert Customer.objects.count() == 100


@pytest.mark.django_db
def test_scale_must_be_positive():
    with pytest.raises(CommandError):
        seed(scale=0)
    assert Product.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("months", [-1, 37])
def test_history_months_must_be_sane(months):
    with pytest.raises(CommandError, match="history-months"):
        seed(scale=0.02, history_months=months)
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_every_product_has_opening_stock_equal_to_its_ledger():
    demo_seed(plan=SMALL)

    assert Stock.objects.count() == Product.objects.count() == 240
    assert stock_ledger_drift() == []
    ledger = dict(StockMove.objects.values_list("stock__product_id").annotate(total=Sum("on_hand_delta")))
    for product_id, on_hand, reserved in Stock.objects.values_list("product_id", "on_hand", "reserved"):
        assert on_hand == ledger.get(product_id, Decimal("0"))
        assert reserved == 0
    # Opening stock, the history's shipments, then yesterday's demo receipts: nothing else moves stock.
    assert set(StockMove.objects.values_list("kind", flat=True)) == {
        StockMove.Kind.OPENING, StockMove.Kind.SHIPMENT, StockMove.Kind.RECEIPT}
    assert not StockMove.objects.exclude(kind=StockMove.Kind.SHIPMENT).filter(on_hand_delta__lte=0).exists()
    assert not StockMove.objects.filter(kind=StockMove.Kind.SHIPMENT, on_hand_delta__gte=0).exists()
    assert not StockMove.objects.filter(kind=StockMove.Kind.OPENING, unit_cost__isnull=True).exists()
    opening = StockMove.objects.filter(kind=StockMove.Kind.OPENING)
    zero = Stock.objects.filter(on_hand=0).count()
    assert 0 < zero < 40  # about 5% out of stock
    assert opening.values("stock").annotate(n=Count("id")).filter(n__gt=1).count() == 0


@pytest.mark.django_db
def test_products_are_plausible():
    demo_seed(plan=SMALL)
    products = list(Product.objects.all())

    assert {p.unit for p in products} >= {"斤", "箱", "袋", "盒"}
    assert all(p.price > 0 and p.price == p.price.quantize(Decimal("0.01")) for p in products)
    assert all(p.default_supplier_id for p in products)
    assert all(p.search_key == build_search_key(name=p.name, code=p.code) for p in products)
    assert [p.code for p in sorted(products, key=lambda p: p.code)][:2] == ["SF000001", "SF000002"]
    assert {p.storage for p in products} >= {Product.Storage.FROZEN, Product.Storage.CHILLED}
    frozen = sum(p.storage == Product.Storage.FROZEN for p in products)
    assert frozen > len(products) / 2


@pytest.mark.django_db
def test_catch_weight_products_have_nominal_weight():
    demo_seed(plan=SMALL)
    catch_weight = list(Product.objects.filter(catch_weight=True))
    by_jin = list(Product.objects.filter(unit=Product.Unit.JIN))

    assert len(catch_weight) >= 20
    assert all(p.nominal_weight and p.nominal_weight > 0 for p in catch_weight)
    assert by_jin and all(p.catch_weight and p.nominal_weight == Decimal("1.00") for p in by_jin)
    assert all(p.step_quantity == Decimal("0.50") for p in by_jin)
    assert not Product.objects.filter(catch_weight=False, nominal_weight__isnull=False).exists()


@pytest.mark.django_db
def test_pinyin_initials_find_seeded_shrimp_meat():
    demo_seed(plan=SMALL)

    found = list(Product.objects.search("xr").values_list("name", flat=True))

    assert any("虾仁" in name for name in found)
    assert set(Product.objects.filter(name__contains="虾仁").values_list("name", flat=True)) <= set(found)


@pytest.mark.django_db
def test_places_are_inside_shenzhen_and_customers_belong_to_their_districts_reps():
    demo_seed(plan=SMALL)
    customers = list(Customer.objects.select_related("rep"))
    suppliers = list(Supplier.objects.all())

    for place in customers + suppliers:
        assert LAT_MIN <= place.latitude <= LAT_MAX, place
        assert LNG_MIN <= place.longitude <= LNG_MAX, place
    assert {c.district for c in customers} <= set(DISTRICTS)
    assert len({c.district for c in customers}) >= 6
    assert all(c.address.startswith(f"深圳市{c.district}") for c in customers)
    territories = set(Rep.objects.values_list("territory", flat=True))
    assert all(c.rep is not None for c in customers)
    assert all(c.rep.territory == c.district for c in customers if c.district in territories)
    assert Customer.objects.values("phone").annotate(n=Count("id")).filter(n__gt=1).count() == 0


@pytest.mark.django_db
def test_demo_links_entry_is_the_code_of_the_rep_whose_login_is_printed():
    # 严芳亮 sorts first by name; the entry link must still be rep01's, the login make run prints.
    rep01 = RepFactory(name="王五", key="BBBB", user=get_user_model().objects.create_user("rep01"))
    RepFactory(name="严芳亮", key="CCCC", user=get_user_model().objects.create_user("rep10"))
    RepFactory(name="阿甘", key="DDDD")
    RepFactory(name="阿", key="AAAA", is_active=False, user=get_user_model().objects.create_user("rep00"))
    out = StringIO()

    call_command("demo_links", entry=True, host="example.test:8000", stdout=out)

    assert out.getvalue() == f"http://example.test:8000/shop/?scene=r%3D{rep01.key}&launch_scene=1047\n"


@pytest.mark.django_db
def test_demo_links_prints_every_way_in_with_its_login():
    demo_seed(plan=SMALL)
    out = StringIO()

    call_command("demo_links", stdout=out)

    text = out.getvalue()
    rep01 = Rep.objects.get(user__username="rep01")
    assert f"http://127.0.0.1:8000/shop/?scene=r%3D{rep01.key}&launch_scene=1047" in text
    assert "http://127.0.0.1:8000/rep/" in text and "rep01 / rep12345" in text and rep01.name in text
    assert "http://127.0.0.1:8000/ops/login/" in text
    for login in ("clerk01 / clerk12345", "purchase01 / driver12345", "delivery01 / driver12345"):
        assert login in text
    assert "http://127.0.0.1:8000/admin/" in text and "admin / 密码 admin12345" in text
    assert "http://127.0.0.1:8000/api/docs/" in text
    # Every printed login works.
    for username, password in re.findall(r"(\w+) / (?:密码 )?(\w+12345)", text):
        assert get_user_model().objects.get(username=username).check_password(password), username


@pytest.mark.django_db
def test_demo_links_without_reps_fails_clearly():
    RepFactory(key="AAAA", is_active=False)
    out = StringIO()

    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_links", entry=True, stdout=out)
    assert out.getvalue() == ""


# ---------------------------------------------------------------- order history

# 04:00 in Shanghai: today's deliveries are being packed, yesterday's late orders are paid and waiting.
HISTORY_NOW = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
HISTORY = DemoPlan(products=150, suppliers=3, reps=2, customers=80, history_months=6, now=HISTORY_NOW)
WINDOW_DAYS = round(6 * DAYS_PER_MONTH)
SHANGHAI = ZoneInfo("Asia/Shanghai")
S = Order.Status


def history_orders() -> list[Order]:
    return list(Order.objects.select_related("payment").prefetch_related("lines__product", "events"))


@pytest.mark.django_db
def test_each_restaurant_orders_about_six_times_a_month_at_most_once_a_day():
    demo_seed(plan=HISTORY)
    per_customer = dict(Customer.objects.annotate(n=Count("orders")).values_list("pk", "n"))
    days = Counter(
        (customer_id, created.astimezone(SHANGHAI).date())
        for customer_id, created in Order.objects.values_list("customer_id", "created_at")
    )

    assert len(per_customer) == 80
    assert all(1 <= n <= WINDOW_DAYS / 1.5 for n in per_customer.values()), per_customer
    assert 4.5 <= sum(per_customer.values()) / 80 / 6 <= 7.5
    assert max(days.values()) == 1
    assert sorted(per_customer.values())[len(per_customer) // 2] >= 20  # most order all along
    assert sum(n < 12 for n in per_customer.values()) >= 5  # new or long-churned restaurants


@pytest.mark.django_db
def test_some_restaurants_churned_and_some_are_new():
    demo_seed(plan=HISTORY)
    first_last = Order.objects.values("customer_id").annotate(first=Min("created_at"), last=Max("created_at"))
    month_ago = HISTORY_NOW - timedelta(days=30)

    churned = [row for row in first_last if row["last"] < month_ago]
    new = [row for row in first_last if row["first"] > HISTORY_NOW - timedelta(days=80)]

    assert 2 <= len(churned) <= 20
    assert 3 <= len(new) <= 25
    assert all(row["last"] > HISTORY_NOW - timedelta(days=WINDOW_DAYS + 1) for row in churned)


@pytest.mark.django_db
def test_totals_add_up_with_todays_prices_and_the_delivery_fee_rules():
    demo_seed(plan=HISTORY)
    rules = OrderSettings.current()

    orders = history_orders()
    assert orders
    for order in orders:
        lines = list(order.lines.all())
        assert 3 <= len(lines) <= 12
        assert len({line.product_id for line in lines}) == len(lines)
        for line in lines:
            assert line.unit_price == line.product.price
            assert line.amount == money(line.unit_price * line.quantity)
            assert (line.product_code, line.product_name, line.unit) == (
                line.product.code, line.product.name, line.product.unit)
        assert order.subtotal == sum(line.amount for line in lines)
        assert order.subtotal >= rules.min_order_amount
        expected_fee = Decimal("0.00") if order.subtotal >= rules.free_delivery_threshold else rules.delivery_fee
        assert order.delivery_fee == expected_fee
        assert order.discount == 0
        assert order.total == order.subtotal + order.delivery_fee - order.discount
    assert any(order.delivery_fee > 0 for order in orders) or all(o.subtotal >= rules.free_delivery_threshold
                                                                  for o in orders)


@pytest.mark.django_db
def test_line_quantities_respect_each_products_minimum_and_step():
    demo_seed(plan=HISTORY)

    rows = OrderLine.objects.values_list("quantity", "product__min_quantity", "product__step_quantity")

    assert rows.count() > 0
    for quantity, minimum, step in rows:
        assert quantity >= minimum
        assert (quantity - minimum) % step == 0
    assert rows.filter(quantity__gt=models.F("product__min_quantity")).exists()


@pytest.mark.django_db
def test_a_restaurant_rebuys_its_favourites():
    demo_seed(plan=HISTORY)

    for customer in Customer.objects.annotate(n=Count("orders")).filter(n__gte=20)[:10]:
        bought = Counter(OrderLine.objects.filter(order__customer=customer).values_list("product_id", flat=True))
        top_five = sum(n for _, n in bought.most_common(5))
        assert top_five / customer.n >= 1.0  # its five favourites fill at least one line an order on average


@pytest.mark.django_db
def test_every_paid_order_has_a_succeeded_payment_for_its_total():
    demo_seed(plan=HISTORY)

    orders = history_orders()
    paid = [o for o in orders if o.paid_at is not None]
    unpaid = [o for o in orders if o.paid_at is None]
    assert paid and unpaid
    for order in paid:
        payment = order.payment
        assert payment.status == Payment.Status.SUCCEEDED
        assert payment.amount_fen == order.total * 100
        assert payment.succeeded_at == order.paid_at
        assert payment.out_trade_no == order.number
        assert payment.transaction_id.startswith("4200") and len(payment.transaction_id) == 28
        assert payment.payer_openid == order.visitor.openid
        assert order.created_at < order.paid_at < order.expires_at
    for order in unpaid:
        assert order.status == S.CANCELLED and order.cancelled_at and order.cancel_reason
        assert order.payment.status == Payment.Status.CLOSED and order.payment.transaction_id is None
        assert order.payment.amount_fen == order.total * 100
    assert 0 < len(unpaid) < len(orders) * 0.05
    transaction_ids = [o.payment.transaction_id for o in paid]
    assert len(set(transaction_ids)) == len(transaction_ids)


@pytest.mark.django_db
def test_statuses_timestamps_and_audit_trail_follow_the_order_life():
    demo_seed(plan=HISTORY)
    rules = OrderSettings.current()
    today = HISTORY_NOW.astimezone(SHANGHAI).date()

    orders = history_orders()
    statuses = Counter(order.status for order in orders)
    assert set(statuses) <= {S.COMPLETED, S.CANCELLED, S.PAID, S.PACKING, S.PACKED}
    assert statuses[S.COMPLETED] > len(orders) * 0.9
    assert statuses[S.PACKING] + statuses[S.PACKED] > 0
    for order in orders:
        local = order.created_at.astimezone(SHANGHAI)
        assert 8 <= local.hour <= 23
        assert order.created_at < HISTORY_NOW
        assert order.delivery_date == delivery_date_for(moment=order.created_at, settings_row=rules)
        assert order.expires_at == order.created_at + timedelta(minutes=rules.payment_timeout_minutes)
        assert re.fullmatch(r"\d{14}", order.number)
        assert order.number[:6] == order.expires_at.astimezone(SHANGHAI).strftime("%y%m%d")
        assert order.idempotency_key.startswith(f"seed-{order.customer_id}-")
        events = [(e.from_status, e.to_status) for e in order.events.all()]
        times = [e.created_at for e in order.events.all()]
        assert times == sorted(times) and times[0] == order.created_at
        assert order.updated_at == times[-1] < HISTORY_NOW  # nothing happens in the future
        if order.status == S.CANCELLED:
            assert events == [("", S.PENDING_PAYMENT), (S.PENDING_PAYMENT, S.CANCELLED)]
        elif order.delivery_date < today:
            assert events == [("", S.PENDING_PAYMENT), (S.PENDING_PAYMENT, S.PAID), (S.DELIVERED, S.COMPLETED)]
        else:
            assert events[:2] == [("", S.PENDING_PAYMENT), (S.PENDING_PAYMENT, S.PAID)]
            assert [to for _, to in events[2:]] == [S.PACKING, S.PACKED][: len(events) - 2]
            assert order.status == events[-1][1]
            assert order.delivery_date > today or order.status != S.PAID  # today's are being packed
    assert {order.status for order in orders if order.delivery_date > today} <= {S.PAID, S.CANCELLED}


@pytest.mark.django_db
def test_orders_belong_to_the_customers_visitor_and_rep_and_dates_line_up():
    demo_seed(plan=HISTORY)

    customers = Customer.objects.prefetch_related("visitors").annotate(
        last_paid=Max("orders__paid_at"), first_order=Min("orders__created_at"))
    for customer in customers:
        assert customer.last_order_at == customer.last_paid
        assert customer.created_at < customer.first_order
        (visitor,) = customer.visitors.all()
        assert visitor.phone == customer.phone and len(visitor.openid) == 28
        assert visitor.created_at < customer.created_at
    assert not Order.objects.exclude(visitor__customer=models.F("customer")).exists()
    assert not Order.objects.exclude(rep=models.F("customer__rep")).exists()
    assert not Order.objects.exclude(phone=models.F("customer__phone")).exists()
    assert Visitor.objects.values("openid").distinct().count() == Visitor.objects.count()


@pytest.mark.django_db
def test_history_reserves_no_stock_and_its_shipments_keep_the_ledger_balanced():
    demo_seed(plan=HISTORY)

    assert Order.objects.exists()
    assert stock_ledger_drift() == []
    assert not Stock.objects.filter(reserved__gt=0).exists()
    # Opening stock, the history's shipments (tests/core/test_seed_demo_figures.py) and the demo
    # receipts' batches are on the ledger: no reservation.
    assert set(StockMove.objects.values_list("kind", flat=True)) == {
        StockMove.Kind.OPENING, StockMove.Kind.SHIPMENT, StockMove.Kind.RECEIPT}
    assert set(StockMove.objects.filter(kind=StockMove.Kind.RECEIPT).values_list("reference", flat=True)) == set(
        Batch.objects.values_list("code", flat=True))


@pytest.mark.django_db
def test_rerun_adds_no_history_and_restores_a_missing_restaurants_history_exactly():
    demo_seed(plan=HISTORY)
    before = counts()
    order_rows = Order.objects.order_by("number").values_list("number", "customer__phone", "total", "status",
                                                               "created_at")
    orders = list(order_rows)
    # Not one with an order on today's runs: a rerun leaves runs alone, so it would not put it back.
    victim = Customer.objects.exclude(orders__stops__isnull=False).order_by("phone").first()
    last_order_at = victim.last_order_at

    results = {r.label: r for r in demo_seed(plan=HISTORY)}

    assert (results["历史订单"].created, results["历史订单"].existing) == (0, before["Order"])
    assert counts() == before

    Payment.objects.filter(order__customer=victim).delete()
    gone = Order.objects.filter(customer=victim).count()
    Order.objects.filter(customer=victim).delete()
    Customer.objects.filter(pk=victim.pk).update(last_order_at=None)

    results = {r.label: r for r in demo_seed(plan=HISTORY)}

    assert results["历史订单"].created == gone > 0
    assert counts() == before
    assert list(order_rows.all()) == orders
    victim.refresh_from_db()
    assert victim.last_order_at == last_order_at


def synthetic_catalogue() -> Catalogue:
    items = [
        CatalogueItem(pk=k, code=f"SF{k:06d}", name=f"商品{k}", spec="", unit="斤", price=Decimal("31.50"),
                      catch_weight=True, nominal_weight=Decimal("1.00"), min_quantity=Decimal("2.00"),
                      step_quantity=Decimal("0.50"), category_id=k % 4, max_steps=996)
        for k in range(1, 41)
    ]
    return Catalogue(items=items, shelves=[[i for i in range(40) if i % 4 == s] for s in range(4)],
                     shelf_cum_sizes=[10, 20, 30, 40])


def synthetic_customer(k: int) -> CustomerRow:
    return CustomerRow(pk=k, phone=f"138{k:08d}", name="海记酒家", contact_name="陈生", address="深圳市福田区",
                       district="福田区", latitude=None, longitude=None, rep_id=None, visitor_id=k, openid="o" * 28)


def test_history_generation_is_deterministic_for_a_seed():
    rules = Rules(settings_row=OrderSettings(), now=HISTORY_NOW, window_days=WINDOW_DAYS, tz=SHANGHAI)
    catalogue, customer = synthetic_catalogue(), synthetic_customer(7)

    def generate(seed):
        return [(o.row, o.lines, o.payment, o.events)
                for o in customer_history(customer=customer, catalogue=catalogue, rules=rules, seed=seed)]

    assert generate(1) == generate(1)
    assert generate(1) != generate(2)
    assert len(generate(1)) > 0


@pytest.mark.parametrize("local_now, in_flight", [
    ("03:40", {S.PAID, S.PACKING, S.PACKED}),
    ("09:00", {S.PAID, S.OUT_FOR_DELIVERY, S.DELIVERED}),  # drivers deliver 07:30-11:30
    ("23:59", {S.PAID, S.DELIVERED}),
])
def test_orders_in_flight_show_the_stage_the_warehouse_reached_by_now(local_now, in_flight):
    hour, minute = map(int, local_now.split(":"))
    now = datetime(2026, 3, 11, hour, minute, tzinfo=SHANGHAI)
    rules = Rules(settings_row=OrderSettings(), now=now, window_days=20, tz=SHANGHAI)
    catalogue = synthetic_catalogue()

    orders = [o for k in range(1, 301)
              for o in customer_history(customer=synthetic_customer(k), catalogue=catalogue, rules=rules, seed=1)]

    status = ORDER_FIELDS.index("status")
    delivery = ORDER_FIELDS.index("delivery_date")
    paid = {o.row[status] for o in orders if o.row[delivery] >= now.date() and o.row[status] != S.CANCELLED}
    assert paid == in_flight
    assert {o.row[status] for o in orders if o.row[delivery] < now.date()} == {S.COMPLETED, S.CANCELLED}
    assert all(o.created_at < now - timedelta(minutes=10) for o in orders)


def test_sqlite_fast_path_converts_values_as_django_does():
    """`make run` seeds SQLite through RowWriter's own conversions: they must match the fields' own."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    from demo.rows import _sqlite_converter

    sqlite = DatabaseWrapper({
        "ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "TIME_ZONE": None, "OPTIONS": {},
        "AUTOCOMMIT": True, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False, "ATOMIC_REQUESTS": False,
        "USER": "", "PASSWORD": "", "HOST": "", "PORT": "", "TEST": {},
    }, alias="seed-sqlite-check")
    moment = datetime(2026, 3, 10, 21, 5, 7, 123456, tzinfo=SHANGHAI)
    samples = {
        "id": uuid.UUID("12345678-1234-4234-8234-123456789abc"), "number": "26031012345678", "customer": 7,
        "status": S.PAID, "delivery_date": moment.date(), "subtotal": Decimal("1234.50"), "latitude": None,
        "expires_at": moment, "paid_at": None,
    }
    for name, value in samples.items():
        field = Order._meta.get_field(name)
        convert = _sqlite_converter(field, sqlite) or (lambda v: v)
        assert convert(value) == field.get_db_prep_save(value, sqlite), name
    line_order = OrderLine._meta.get_field("order")
    assert _sqlite_converter(line_order, sqlite)(samples["id"]) == line_order.get_db_prep_save(samples["id"], sqlite)


# ---------------------------------------------------------------- entries (how restaurants opened the mini program)

V = EntryEvent.Visit
REP_HOURS = (time(9), time(19))


def orders_by_customer() -> dict[int, list[datetime]]:
    orders = defaultdict(list)
    for customer_id, created in Order.objects.order_by("created_at").values_list("customer_id", "created_at"):
        orders[customer_id].append(created)
    return orders


def entry_rows():
    return EntryEvent.objects.order_by("visitor_id", "created_at").values_list(
        "visitor__openid", "customer__phone", "rep__key", "scene_code", "scene_kind", "visit_kind", "scene", "launch_id",
        "credited", "created_at")


@pytest.mark.django_db
def test_each_restaurants_first_entry_is_its_reps_code_shortly_before_its_first_order():
    demo_seed(plan=HISTORY)
    customers = list(Customer.objects.select_related("rep").prefetch_related("visitors")
                     .annotate(first_order=Min("orders__created_at")))
    entries = defaultdict(list)
    for entry in EntryEvent.objects.order_by("created_at", "id"):
        entries[entry.visitor_id].append(entry)

    assert len(customers) == 80 and all(customer.rep for customer in customers)
    for customer in customers:
        (visitor,) = customer.visitors.all()
        first = entries[visitor.pk][0]
        assert (first.visit_kind, first.credited, first.rep_id, first.customer_id, first.scene) == (
            V.FIRST, True, customer.rep_id, None, f"r={customer.rep.key}")
        assert first.scene_kind in {Scene.IN_PERSON, Scene.FORWARDED_IMAGE, Scene.SHARE_CARD}
        assert visitor.created_at < first.created_at < customer.created_at < customer.first_order
        assert customer.first_order - first.created_at < timedelta(days=4)
        assert REP_HOURS[0] <= first.created_at.astimezone(SHANGHAI).time() < REP_HOURS[1]
        assert (visitor.first_rep_id, visitor.first_touch_at) == (customer.rep_id, first.created_at)
        assert (customer.acquired_by_id, customer.acquired_at) == (customer.rep_id, customer.created_at)
        assert [entry for entry in entries[visitor.pk] if entry.credited or entry.visit_kind == V.FIRST] == [first]
    assert sum(map(len, entries.values())) == EntryEvent.objects.count()


@pytest.mark.django_db
def test_later_entries_lead_up_to_an_order_return_visits_carry_no_rep_and_rescans_are_not_credited():
    demo_seed(plan=HISTORY)
    orders = orders_by_customer()
    later = EntryEvent.objects.exclude(visit_kind=V.FIRST).select_related("visitor", "customer__rep")

    assert later.count() > 0
    for entry in later:
        customer = entry.customer
        assert customer is not None and entry.visitor.customer_id == customer.pk
        placed = orders[customer.pk]
        assert placed[0] < entry.created_at
        following = placed[bisect_left(placed, entry.created_at)]  # IndexError: no order follows
        local = entry.created_at.astimezone(SHANGHAI)
        assert not entry.credited
        if entry.visit_kind == V.RETURN:
            assert (entry.rep_id, entry.scene) == (None, "")
            assert entry.scene_kind in {Scene.DIRECT, Scene.SHARE_CARD}
            assert timedelta(0) < following - entry.created_at <= timedelta(minutes=20)
            assert local.date() == following.astimezone(SHANGHAI).date() and local.time() >= time(8)
        else:
            assert entry.visit_kind == V.CUSTOMER_RESCAN
            assert (entry.rep_id, entry.scene) == (customer.rep_id, f"r={customer.rep.key}")
            assert timedelta(0) < following - entry.created_at < timedelta(days=2)
            assert REP_HOURS[0] <= local.time() < REP_HOURS[1]
    assert EntryEvent.objects.filter(created_at__gte=HISTORY_NOW).count() == 0


@pytest.mark.django_db
def test_entry_counts_per_kind_and_scene_are_plausible():
    demo_seed(plan=HISTORY)
    later_orders = Order.objects.count() - 80
    kinds = Counter(EntryEvent.objects.values_list("visit_kind", flat=True))
    scenes = Counter(EntryEvent.objects.values_list("visit_kind", "scene_kind"))

    assert kinds[V.FIRST] == 80
    assert 0.45 * later_orders <= kinds[V.RETURN] <= 0.65 * later_orders  # many orders, not all
    assert 0.015 * later_orders <= kinds[V.CUSTOMER_RESCAN] <= 0.07 * later_orders  # a few
    assert scenes[V.FIRST, Scene.IN_PERSON] > scenes[V.FIRST, Scene.SHARE_CARD] > 0
    assert scenes[V.FIRST, Scene.FORWARDED_IMAGE] > 0
    assert scenes[V.RETURN, Scene.DIRECT] > 3 * scenes[V.RETURN, Scene.SHARE_CARD] > 0
    assert scenes[V.CUSTOMER_RESCAN, Scene.IN_PERSON] > 0


@pytest.mark.django_db
def test_scene_kind_is_what_the_scene_code_classifies_as():
    demo_seed(plan=HISTORY)

    pairs = set(EntryEvent.objects.values_list("scene_code", "scene_kind").distinct())

    assert {code for code, _ in pairs} == {1047, 1011, 1048, 1012, 1007, 1008, 1089, 1001, 1104, 1103}
    assert all(kind == Scene.classify(code) for code, kind in pairs), pairs


@pytest.mark.django_db
def test_reps_who_mostly_forward_pictures_are_the_ones_the_admin_sees_flagged():
    demo_seed(plan=SMALL)
    forwarding = forwarding_rep_keys(seed=SMALL.seed, keys=list(Rep.objects.values_list("key", flat=True)))
    today = timezone.localdate()

    flags = rep_flags(day_from=today - timedelta(days=60), day_to=today)

    assert len(forwarding) == 1
    flagged = {flag["rep_id"] for flag in flags if flag["kind"] == "mostly_forwarded"}
    assert set(Rep.objects.filter(pk__in=flagged).values_list("key", flat=True)) == forwarding
    for rep in Rep.objects.exclude(key__in=forwarding):  # the others mostly scan in person
        credited = Counter(EntryEvent.objects.filter(rep=rep, credited=True).values_list("scene_kind", flat=True))
        assert credited[Scene.IN_PERSON] > 0.6 * sum(credited.values())


@pytest.mark.django_db
def test_rerun_adds_no_entries_and_restores_a_missing_visitors_entries_exactly():
    demo_seed(plan=HISTORY)
    rows = entry_rows()
    entries = list(rows)
    people = Visitor.objects.order_by("openid").values_list("openid", "created_at", "first_rep__key", "first_touch_at",
                                                            "customer__acquired_by__key", "customer__acquired_at")
    before = list(people)

    results = {r.label: r for r in demo_seed(plan=HISTORY)}

    assert (results["进入记录"].created, results["进入记录"].existing) == (0, len(entries))
    assert list(rows.all()) == entries

    victim = Visitor.objects.order_by("openid").first()
    gone, _ = EntryEvent.objects.filter(visitor=victim).delete()
    Visitor.objects.filter(pk=victim.pk).update(first_rep=None, first_touch_at=None)
    Customer.objects.filter(pk=victim.customer_id).update(acquired_by=None, acquired_at=None)

    results = {r.label: r for r in demo_seed(plan=HISTORY)}

    assert results["进入记录"].created == gone > 1
    assert list(rows.all()) == entries
    assert list(people.all()) == before


@pytest.mark.django_db
def test_restaurants_without_orders_get_entries_once_history_is_seeded():
    demo_seed(plan=replace(SMALL, history_months=0))

    assert EntryEvent.objects.count() == 0
    assert not Visitor.objects.filter(first_rep__isnull=False).exists()

    results = {r.label: r for r in demo_seed(plan=SMALL)}

    assert results["进入记录"].created == EntryEvent.objects.count()
    assert EntryEvent.objects.filter(visit_kind=V.FIRST).count() == Customer.objects.count() == 300


def test_entry_generation_is_deterministic_for_a_seed():
    customer = EntryCustomer(pk=7, phone="13800000007", joined=datetime(2026, 1, 5, 6, 55, tzinfo=UTC), visitor_id=9,
                             rep_id=3, rep_key="ABCD", forwarding=False)
    orders = [datetime(2026, 1, 5, 7, 0, tzinfo=UTC) + timedelta(days=4 * k, minutes=7 * k) for k in range(40)]

    def generate(seed):
        made = customer_entries(customer=customer, orders=orders, tz=SHANGHAI, seed=seed)
        return made.rows, made.visitor_created

    assert generate(1) == generate(1)
    assert generate(1) != generate(2)
    assert len(generate(1)[0]) > 10
    keys = [f"K{k:03d}" for k in range(10)]
    assert forwarding_rep_keys(seed=1, keys=keys) == forwarding_rep_keys(seed=1, keys=keys[::-1])
    assert len(forwarding_rep_keys(seed=1, keys=keys)) == 2
    assert forwarding_rep_keys(seed=1, keys=keys[:1]) == set()


# ---------------------------------------------------------------- warehouse and road

# Scale 0.32 by restaurants: two receipts, two delivery drivers; still quick without history.
RECEIVING = DemoPlan(products=240, suppliers=5, reps=3, customers=1600, history_months=0)


def test_staff_scale_with_the_plan_and_a_larger_scale_only_adds_people():
    one = staff_specs(DemoPlan.for_scale(1))
    two = staff_specs(DemoPlan.for_scale(2))

    assert [s.username for s in one] == ["clerk01", "purchase01", "purchase02", *(f"delivery0{i}" for i in range(1, 6))]
    assert len(two) == 16 and set(one) <= set(two)
    assert [s.username for s in staff_specs(SMALL)] == ["clerk01", "purchase01", "delivery01"]
    vans = [s for s in one if s.kind == Driver.Kind.DELIVERY]
    assert all(re.fullmatch(r"粤BD\d{5}", s.plate) and 20 <= s.max_stops <= 30 for s in vans)


@pytest.mark.django_db
def test_staff_get_logins_in_their_groups_and_drivers_a_driver_row():
    demo_seed(plan=RECEIVING)
    User = get_user_model()

    clerk = User.objects.get(username="clerk01")
    assert clerk.check_password("clerk12345") and is_warehouse_clerk(clerk)
    assert list(clerk.groups.values_list("name", flat=True)) == ["仓管"]
    assert not Driver.objects.filter(user=clerk).exists()
    drivers = {d.user.username: d for d in Driver.objects.select_related("user")}
    assert sorted(drivers) == ["delivery01", "delivery02", "purchase01"]
    for username, driver in drivers.items():
        kind, group = ((Driver.Kind.DELIVERY, "送货司机") if username.startswith("delivery")
                       else (Driver.Kind.PURCHASING, "进货司机"))
        assert driver.kind == kind and driver.is_active and driver.name == driver.user.first_name
        assert driver_for_user(driver.user, kind=kind) == driver
        assert list(driver.user.groups.values_list("name", flat=True)) == [group]
        assert driver.user.check_password("driver12345")
        assert re.fullmatch(r"粤B[A-HJ-NP-Z]\d{4}|粤BD\d{5}", driver.vehicle_plate)
        assert driver.max_weight_kg >= 800


@pytest.mark.django_db
def test_yesterdays_receipts_put_batches_on_stock_through_the_ledger():
    demo_seed(plan=RECEIVING)
    yesterday = timezone.localdate() - timedelta(days=1)

    receipts = list(Receipt.objects.select_related("supplier", "received_by").order_by("note"))
    assert [r.note for r in receipts] == [f"demo-receipt-{yesterday.isoformat()}-{n}" for n in (1, 2)]
    assert len({r.supplier_id for r in receipts}) == 2
    for receipt in receipts:
        assert receipt.received_by.username == "clerk01"
        assert timezone.localtime(receipt.created_at).date() == yesterday
        assert 5 <= timezone.localtime(receipt.created_at).hour < 9
        batches = list(receipt.batches.select_related("product"))
        assert 10 <= len(batches) <= 20
        for batch in batches:
            assert batch.product.default_supplier_id == receipt.supplier_id
            assert batch.code.startswith("B" + yesterday.strftime("%y%m%d"))
            assert batch.created_at == receipt.created_at
            assert 0 < batch.unit_cost < batch.product.price
            assert batch.production_date <= yesterday < batch.expiry_date
            assert (batch.weight is not None) == batch.product.catch_weight
    moves = StockMove.objects.filter(kind=StockMove.Kind.RECEIPT)
    assert sorted(moves.values_list("reference", "on_hand_delta", "unit_cost")) == sorted(
        Batch.objects.values_list("code", "quantity", "unit_cost"))
    assert stock_ledger_drift() == []
    # The moving average cost saw the receipt: a product received from empty costs what the batch cost.
    for batch in Batch.objects.filter(product__stock__on_hand=F("quantity")).select_related("product__stock"):
        assert batch.product.stock.average_cost == batch.unit_cost


@pytest.mark.django_db
def test_tomorrows_purchase_tasks_go_to_the_purchasing_drivers_in_turn(monkeypatch):
    monkeypatch.setattr(demo_logistics, "PURCHASING_DRIVERS", 25)  # two of them at this scale
    evening = datetime(2026, 3, 11, 20, 0, tzinfo=SHANGHAI)  # tomorrow's orders are in, today's delivered
    demo_seed(plan=DemoPlan(products=150, suppliers=3, reps=2, customers=400, history_months=1, now=evening))

    tasks = list(PurchaseTask.objects.select_related("driver__user").order_by("supplier__name", "pk"))
    assert len(tasks) >= 2 and {t.for_date for t in tasks} == {date(2026, 3, 12)}
    assert [t.driver.user.username for t in tasks] == [("purchase01", "purchase02")[k % 2] for k in range(len(tasks))]
    assert all(t.lines.exists() and t.status == PurchaseTask.Status.OPEN for t in tasks)
    assert not DeliveryRun.objects.exists()  # nothing is packed at this hour


@pytest.mark.django_db
def test_todays_packed_orders_get_delivery_runs():
    demo_seed(plan=replace(HISTORY, customers=400))  # 04:00: today's orders are being packed
    today = HISTORY_NOW.astimezone(SHANGHAI).date()

    runs = list(DeliveryRun.objects.select_related("driver").prefetch_related("stops__order"))
    assert {run.delivery_date for run in runs} == {today}
    assert {run.driver.kind for run in runs} == {Driver.Kind.DELIVERY}
    stops = [stop for run in runs for stop in run.stops.all()]
    assert stops and all(stop.order.status == S.PACKED and stop.order.delivery_date == today for stop in stops)
    weights = order_weights_kg([stop.order_id for stop in stops])
    for run in runs:
        assert [stop.sequence for stop in run.stops.all()] == list(range(1, len(run.stops.all()) + 1))
        assert len(run.stops.all()) <= run.driver.max_stops
        assert sum(weights[stop.order_id] for stop in run.stops.all()) <= run.driver.max_weight_kg
        assert run.total_distance_km > 0
    assert len(stops) <= Order.objects.filter(status=S.PACKED, delivery_date=today).count()


@pytest.mark.django_db
@pytest.mark.parametrize("local_now, built", [("04:00", "DeliveryRun"), ("20:00", "PurchaseTask")])
def test_rerun_adds_no_staff_receipts_tasks_or_runs(local_now, built):
    hour, minute = map(int, local_now.split(":"))
    now = datetime(2026, 3, 11, hour, minute, tzinfo=SHANGHAI)
    plan = DemoPlan(products=150, suppliers=3, reps=2, customers=400, history_months=1, now=now)
    demo_seed(plan=plan)
    before = counts()
    assert before[built] > 0
    task_rows = PurchaseTask.objects.order_by("pk").values_list("pk", "supplier_id", "driver_id", "updated_at")
    stop_rows = Stop.objects.order_by("pk").values_list("pk", "run_id", "order_id", "sequence")
    tasks, stops = list(task_rows), list(stop_rows)

    results = {r.label: r for r in demo_seed(plan=plan)}

    assert {label: results[label].created for label in ("仓管与司机", "入库单", "采购任务", "配送线路")} == {
        "仓管与司机": 0, "入库单": 0, "采购任务": 0, "配送线路": 0}
    assert (results["入库单"].existing, results["采购任务"].existing, results["配送线路"].existing) == (
        1, before["PurchaseTask"], before["DeliveryRun"])
    assert counts() == before
    assert list(task_rows.all()) == tasks
    assert list(stop_rows.all()) == stops
    assert stock_ledger_drift() == []
