"""J8 habits, end to end in headless Chromium against the live server: the nightly lost-item sweep
tells rep 张三 that 火锅城 stopped buying 虾滑; the restaurant (a returning customer with the
大客户价 price list) opens 我的常购, sees its list prices, adds the usual quantities in one tap,
checks out and pays through the dev WeChat Pay; the rep sees the alert in the assistant's inbox,
and admin's 断购提醒 shows the product bought again."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import PriceList, PriceListEntry, Product
from orders.models import Order, OrderLine, OrderSettings
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, product_with_stock
from usuals.lost import lost_items_sweep
from usuals.models import LostItemAlert, ReminderOptOut
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

pytestmark = pytest.mark.e2e
PASSWORD = "rep-pass-123"
D = Decimal
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _wechatpay(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.WECHATPAY_DEV_DUPLICATE_NOTIFY = True


def paid_order(customer, visitor, lines, moment):
    n = next(_numbers)
    order = Order.objects.create(
        number=f"2611{n:010d}", customer=customer, visitor=visitor, rep=customer.rep, status=Order.Status.COMPLETED,
        idempotency_key=f"habit-{n}", delivery_date=timezone.localdate(moment) + timedelta(days=1),
        subtotal=D("200"), total=D("200"), restaurant_name=customer.name, contact_name="王老板", phone=customer.phone,
        address=customer.address, expires_at=moment, paid_at=moment)
    for product, quantity in lines:
        OrderLine.objects.create(order=order, product=product, product_code=product.code, product_name=product.name,
                                 unit=product.unit, unit_price=product.price, quantity=D(quantity),
                                 amount=product.price * D(quantity))


@pytest.fixture
def world(transactional_db):
    now = timezone.now()
    OrderSettings.current()
    zhang = RepFactory(name="张三", user=User.objects.create_user(username="zhangsan", password=PASSWORD))
    shrimp = product_with_stock(code="HS1001", name="虾滑", unit=Product.Unit.BAG, price=D("20.00"))
    beef = product_with_stock(code="HS2001", name="肥牛卷", unit=Product.Unit.BAG, price=D("30.00"))
    price_list = PriceList.objects.create(name="大客户价")
    PriceListEntry.objects.create(price_list=price_list, product=shrimp, price=D("15.00"))
    PriceListEntry.objects.create(price_list=price_list, category=beef.category, percent_off=D("10"))
    hotpot = CustomerFactory(name="火锅城", contact_name="王老板", rep=zhang, price_list=price_list,
                             address="深圳市福田区福华路 88 号", district="福田区",
                             latitude=D("22.543096"), longitude=D("114.057865"))
    visitor = VisitorFactory(customer=hotpot, phone=hotpot.phone)
    # 虾滑 twice a week until three weeks ago; 肥牛卷 every time, to yesterday.
    for k in range(8):
        paid_order(hotpot, visitor, [(shrimp, "3"), (beef, "4")], now - timedelta(days=22 + 3.5 * k))
    for days in (18, 11, 4, 1):
        paid_order(hotpot, visitor, [(beef, "4")], now - timedelta(days=days))
    hotpot.last_order_at = now - timedelta(days=1)
    hotpot.save(update_fields=["last_order_at"])
    # Last night's sweep.
    assert lost_items_sweep(now=now).new_alerts == 1
    return {"zhang": zhang, "hotpot": hotpot, "visitor": visitor, "shrimp": shrimp, "beef": beef, "now": now}


def test_usual_list_with_list_prices_paid_and_the_rep_told_of_the_lost_item(live_server, world, new_phone,
                                                                            screenshot):
    base = live_server.url
    hotpot, visitor = world["hotpot"], world["visitor"]
    phone = new_phone()
    phone.add_cookies([{"name": DEVICE_COOKIE, "url": base,
                        "value": signing.get_cookie_signer(salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(
                            visitor.openid)}])
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # 我的常购: most bought first, each at 大客户价 (虾滑 fixed ¥15, 肥牛卷 10% off ¥30).
    page.goto(base + "/shop/usuals/")
    lines = page.get_by_test_id("usual-line")
    expect(lines).to_have_count(2)
    expect(lines.get_by_test_id("product-name")).to_have_text(["肥牛卷", "虾滑"])
    expect(lines.get_by_test_id("usual-price")).to_contain_text(["¥27.00/袋", "¥15.00/袋"])
    expect(page.get_by_test_id("reminder-toggle")).to_be_checked()
    screenshot(page, "usuals")

    # No reminder before the cut-off, thank you: kept on the server.
    page.get_by_test_id("reminder-toggle").uncheck()
    expect(page.get_by_test_id("reminder-toggle")).not_to_be_checked()
    page.wait_for_function("() => !document.querySelector('[data-testid=reminder-toggle]').disabled")
    assert ReminderOptOut.objects.filter(customer=hotpot).exists()

    # One tap: the usual quantities in the cart, at the list's prices.
    page.get_by_test_id("usuals-add").click()
    expect(page).to_have_url(base + "/shop/cart/")
    expect(page.get_by_test_id("cart-line")).to_have_count(2)
    expect(page.get_by_test_id("cart-total")).to_have_text("¥153.00")  # 4 × 27 + 3 × 15

    # Checkout recognises the restaurant; pay in the dev WeChat Pay sheet.
    page.get_by_test_id("checkout").click()
    form = page.get_by_test_id("delivery-form")
    expect(form.get_by_test_id("restaurant-input")).to_have_value("火锅城")
    expect(page.get_by_test_id("subtotal")).to_have_text("¥153.00")
    expect(page.get_by_test_id("total")).to_have_text("¥163.00")
    screenshot(page, "checkout")
    page.get_by_test_id("submit").click()
    pay_sheet = page.get_by_test_id("pay-sheet")
    # Where pages ask for subscribe-message consent on 提交订单, WeChat's sheet comes first: allow.
    consent = page.get_by_test_id("subscribe-sheet")
    expect(consent.or_(pay_sheet)).to_be_visible()
    if consent.is_visible():
        consent.get_by_test_id("subscribe-allow").click()
    expect(pay_sheet.get_by_test_id("pay-amount")).to_have_text("¥163.00")
    pay_sheet.get_by_test_id("pay-confirm").click()
    order = Order.objects.exclude(number__startswith="2611").get()
    expect(page).to_have_url(f"{base}/shop/orders/{order.pk}/", timeout=10_000)
    expect(page.get_by_test_id("order-status")).to_have_text("已付款", timeout=10_000)
    screenshot(page, "paid")
    order.refresh_from_db()
    assert (order.status, order.total, order.customer_id) == (Order.Status.PAID, D("163.00"), hotpot.pk)
    assert sorted(order.lines.values_list("product_name", "unit_price", "list_price", "price_list_name",
                                          "quantity")) == [
        ("肥牛卷", D("27.00"), D("30.00"), "大客户价", D("4.00")), ("虾滑", D("15.00"), D("20.00"), "大客户价", D("3.00"))]

    # The rep: last night's lost-item alert in the assistant's inbox, opening the customer.
    rep_page = new_phone().new_page()
    rep_page.goto(base + "/rep/login/")
    rep_page.get_by_test_id("username").fill("zhangsan")
    rep_page.get_by_test_id("password").fill(PASSWORD)
    rep_page.get_by_test_id("login-submit").click()
    expect(rep_page).to_have_url(base + "/rep/")
    alert = rep_page.get_by_test_id("inbox-item").filter(has_text="虾滑")
    expect(alert.get_by_test_id("inbox-title")).to_have_text("火锅城 3 周没买 虾滑 了，之前每周 2 次")
    last_day = timezone.localdate(world["now"] - timedelta(days=22))
    expect(alert.get_by_test_id("inbox-body")).to_have_text(f"上次购买 {last_day:%m-%d}，近 90 天买过 8 次")
    screenshot(rep_page, "rep-inbox")
    alert.locator("a").click()
    expect(rep_page).to_have_url(f"{base}/rep/customers/{hotpot.pk}/")
    expect(rep_page.get_by_test_id("customer-name")).to_have_text("火锅城")

    # Admin's 断购提醒: the alert, and 虾滑 bought again since.
    admin_page = new_phone().new_page()
    User.objects.create_superuser("boss", password="boss-pass-123")
    admin_page.goto(base + "/admin/login/?next=/admin/usuals/lostitemalert/")
    admin_page.fill("#id_username", "boss")
    admin_page.fill("#id_password", "boss-pass-123")
    admin_page.click("input[type=submit]")
    row = admin_page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("火锅城")
    expect(row).to_contain_text("虾滑")
    expect(row.locator("img[alt=True]")).to_have_count(1)
    assert LostItemAlert.objects.get().product == world["shrimp"]
    assert errors == []


def test_the_reminders_link_opens_checkout_with_the_usual_basket(live_server, world, new_phone, screenshot):
    """The reminder before the cut-off links to /shop/checkout/?usual=1: the usual quantities are put
    in the cart and the buyer reviews them there; nothing is ordered until they tap."""
    base = live_server.url
    phone = new_phone()
    phone.add_cookies([{"name": DEVICE_COOKIE, "url": base,
                        "value": signing.get_cookie_signer(salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(
                            world["visitor"].openid)}])
    page = phone.new_page()
    page.goto(base + "/shop/checkout/?usual=1")
    expect(page.get_by_test_id("checkout-line")).to_have_count(2)
    expect(page.get_by_test_id("subtotal")).to_have_text("¥153.00")
    expect(page).to_have_url(base + "/shop/checkout/")  # a reload does not add again
    page.reload()
    expect(page.get_by_test_id("subtotal")).to_have_text("¥153.00")
    screenshot(page, "reminder-checkout")
    assert not Order.objects.exclude(number__startswith="2611").exists()
