"""The first hour (issue 20): the entry link `make run` prints, on a freshly seeded demo, is rep01's
code. A restaurant opens it on a phone, orders and pays through the pages and the dev WeChat Pay,
and the order appears in the live feed of rep01 — the rep login `make run` prints — on /rep/."""

import math
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from playwright.sync_api import expect

from catalog.models import Product
from demo.seed import DemoPlan, demo_seed
from demo.people import REP_PASSWORD
from orders.models import Order, OrderSettings
from reps.models import Rep
from tests.e2e.conftest import allow_subscriptions

pytestmark = pytest.mark.e2e

HERE = {"latitude": 22.543096, "longitude": 114.057865}
# A small demo: enough reps that rep01 need not be first by name; no history, so seeding is quick.
PLAN = DemoPlan(products=60, suppliers=2, reps=4, customers=20, history_months=0)


@pytest.fixture(autouse=True)
def _wechatpay(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


def a_product_to_order(min_order: Decimal) -> tuple[Product, int]:
    """A seeded product in stock, and how many taps on + reach the minimum order with it."""
    for product in (Product.objects.filter(is_active=True, price__gt=0, stock__on_hand__gt=F("stock__reserved"))
                    .select_related("stock").order_by("-price", "code")):
        taps = 1 + max(0, math.ceil((min_order / product.price - product.min_quantity) / product.step_quantity))
        if product.min_quantity + (taps - 1) * product.step_quantity <= product.stock.available:
            return product, taps
    raise AssertionError("the seeded demo has no product to order")


def test_make_runs_entry_link_orders_into_rep01s_live_feed(live_server, transactional_db, new_phone, screenshot):
    demo_seed(plan=PLAN)
    rules = OrderSettings.current()
    host = live_server.url.removeprefix("http://")
    out = StringIO()
    call_command("demo_links", entry=True, host=host, stdout=out)
    entry = out.getvalue().strip()
    rep01 = Rep.objects.get(user__username="rep01")
    assert entry.startswith(f"{live_server.url}/shop/?scene=r%3D{rep01.key}&")

    # rep01 signs in with the printed login and leaves the assistant open.
    rep_phone = new_phone()
    a = rep_phone.new_page()
    a.goto(live_server.url + "/rep/login/")
    a.get_by_test_id("username").fill("rep01")
    a.get_by_test_id("password").fill(REP_PASSWORD)
    a.get_by_test_id("login-submit").click()
    expect(a).to_have_url(live_server.url + "/rep/")
    expect(a.get_by_test_id("rep-name")).to_have_text(rep01.name)
    expect(a.get_by_test_id("rep-key")).to_have_text(rep01.key)

    # A restaurant opens the printed entry link and fills its cart up to the minimum order.
    product, taps = a_product_to_order(rules.min_order_amount)
    phone = new_phone(geolocation=HERE, permissions=["geolocation"])
    b = phone.new_page()
    b.goto(entry)
    expect(b.get_by_test_id("category").first).to_be_visible()
    b.get_by_test_id("search-input").fill(product.name)
    row = b.locator(f'[data-testid="product"][data-code="{product.code}"]')
    expect(row).to_be_visible()
    for tap in range(taps):
        row.get_by_test_id("stepper-plus").click()
        expect(row.get_by_test_id("stepper-qty")).to_have_text(
            f"{product.min_quantity + tap * product.step_quantity:f}".rstrip("0").rstrip("."))
    screenshot(b, "demo-shop")

    # Checkout: the phone (a tap on 授权手机号), the delivery details, then WeChat Pay.
    b.get_by_test_id("tab-cart").click()
    b.get_by_test_id("checkout").click()
    b.get_by_test_id("open-phone-sheet").click()
    sheet = b.get_by_test_id("phone-sheet")
    sheet.get_by_test_id("phone-input").fill("13712340000")
    sheet.get_by_test_id("nickname-input").fill("陈老板")
    sheet.get_by_test_id("phone-allow").click()
    expect(sheet).to_be_hidden()
    form = b.get_by_test_id("delivery-form")
    form.get_by_test_id("restaurant-input").fill("潮汕牛肉火锅(车公庙店)")
    form.get_by_test_id("district-select").select_option("福田区")
    form.get_by_test_id("address-input").fill("深圳市福田区深南大道 7002 号")
    form.get_by_test_id("locate").click()
    expect(form.get_by_test_id("location-text")).to_have_text("22.543096, 114.057865")
    expect(b.get_by_test_id("shortfall")).to_be_hidden()
    b.get_by_test_id("submit").click()
    allow_subscriptions(b)
    b.get_by_test_id("pay-sheet").get_by_test_id("pay-confirm").click()
    expect(b.get_by_test_id("order-status")).to_have_text("已付款", timeout=15_000)
    order = Order.objects.get(customer__phone="13712340000")
    screenshot(b, "demo-order-paid")

    # rep01's feed shows it without a reload.
    item = a.locator(f'[data-testid="feed-item"][data-number="{order.number}"]')
    expect(item).to_be_visible(timeout=15_000)
    expect(item).to_contain_text("潮汕牛肉火锅(车公庙店)")
    expect(item.get_by_test_id("feed-total")).to_have_text(f"¥{order.total}")
    screenshot(a, "demo-rep01-feed")
    assert (order.status, order.rep_id, order.customer.rep_id) == (Order.Status.PAID, rep01.pk, rep01.pk)
