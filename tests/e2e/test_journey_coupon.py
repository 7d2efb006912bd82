"""J7 coupons, end to end in headless Chromium against the live server: staff create a coupon
template and issue it to a customer by phone in admin; the customer finds it in 我的 → 优惠券,
checks out with the suggested coupon, pays through the dev WeChat Pay, and sees it used."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.utils import timezone
from playwright.sync_api import expect

from catalog.services import cart_line_set
from coupons.models import Coupon, CouponRedemption, CouponTemplate
from orders.models import Order, OrderLine, OrderSettings
from tests.e2e.conftest import allow_subscriptions
from tests.factories import CategoryFactory, CustomerFactory, SubCategoryFactory, VisitorFactory, product_with_stock
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _wechatpay(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


def test_admin_issues_a_coupon_and_the_customer_uses_it_at_checkout(live_server, transactional_db, new_phone,
                                                                    browser, screenshot):
    rules = OrderSettings.current()
    rules.min_order_amount, rules.delivery_fee, rules.free_delivery_threshold = (
        Decimal("100.00"), Decimal("10.00"), Decimal("300.00"))
    rules.save()
    shrimp_aisle = CategoryFactory(name="冻虾类")
    peeled = product_with_stock(on_hand="20", code="CP1001", name="去皮虾仁", price=Decimal("45.50"),
                                category=SubCategoryFactory(parent=shrimp_aisle, name="虾仁"))
    customer = CustomerFactory(name="湘味小馆", phone="13912340001", contact_name="王老板",
                               address="深圳市福田区福华路 88 号", district="福田区",
                               latitude=Decimal("22.543096"), longitude=Decimal("114.057865"))
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    cart_line_set(visitor=visitor, product_id=peeled.pk, quantity=Decimal("4"))  # 182.00
    User.objects.create_superuser(username="boss", password="boss-pass-123")
    base = live_server.url
    today = timezone.localdate()

    # --- Staff: a template 满150减25 on shrimp, issued to the restaurant by its phone ---------------
    office = browser.new_context(locale="zh-CN")
    office.set_default_timeout(10_000)
    admin = office.new_page()
    admin.goto(base + "/admin/login/?next=/admin/coupons/coupontemplate/add/")
    admin.fill("#id_username", "boss")
    admin.fill("#id_password", "boss-pass-123")
    admin.click("input[type=submit]")
    admin.fill("#id_name", "虾类满150减25")
    admin.select_option("#id_kind", "amount")
    admin.fill("#id_amount_off", "25")
    admin.fill("#id_min_spend", "150")
    admin.fill("#id_valid_from", today.isoformat())
    admin.fill("#id_valid_to", (today + timedelta(days=30)).isoformat())
    admin.locator("#id_categories_from").get_by_role("option", name="冻虾类", exact=True).dblclick()  # chosen
    admin.click("input[name=_save]")
    expect(admin.locator(".messagelist")).to_contain_text("虾类满150减25")
    template = CouponTemplate.objects.get()
    assert list(template.categories.values_list("name", flat=True)) == ["冻虾类"]
    admin.get_by_test_id("issue-link").first.click()
    form = admin.get_by_test_id("issue-form")
    form.locator("textarea").fill("139 1234 0001")
    screenshot(admin, "admin-issue")
    admin.get_by_test_id("issue-submit").click()
    expect(admin.locator(".messagelist")).to_contain_text("已发放「虾类满150减25」1 张")
    coupon = Coupon.objects.get()
    assert coupon.customer_id == customer.pk and coupon.template_id == template.pk
    office.close()

    # --- The customer: 我的 → 优惠券 ------------------------------------------------------------
    phone = new_phone()
    phone.add_cookies([{"name": DEVICE_COOKIE, "url": base, "value": signing.get_cookie_signer(
        salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(visitor.openid)}])
    page = phone.new_page()
    page.goto(base + "/shop/orders/")
    page.get_by_test_id("coupons-link").click()
    card = page.get_by_test_id("coupon-card")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("coupon-name")).to_have_text("虾类满150减25")
    expect(card).to_contain_text("限 冻虾类")
    screenshot(page, "wallet-usable")

    # --- Checkout: the coupon is suggested, the server's discount and total shown --------------
    page.goto(base + "/shop/checkout/")
    expect(page.get_by_test_id("subtotal")).to_have_text("¥182.00")
    expect(page.get_by_test_id("coupon-suggested")).to_be_visible()
    expect(page.get_by_test_id("discount")).to_have_text("-¥25.00")
    expect(page.get_by_test_id("total")).to_have_text("¥167.00")  # 182 + 10 − 25
    page.get_by_test_id("coupon-select").select_option("0")  # without it, the full price
    expect(page.get_by_test_id("total")).to_have_text("¥192.00")
    page.get_by_test_id("coupon-select").select_option(str(coupon.pk))
    expect(page.get_by_test_id("submit-total")).to_have_text("¥167.00")
    screenshot(page, "checkout-coupon")
    page.get_by_test_id("submit").click()
    allow_subscriptions(page)  # WeChat's consent sheet, asked in the tap before paying
    pay_sheet = page.get_by_test_id("pay-sheet")
    expect(pay_sheet.get_by_test_id("pay-amount")).to_have_text("¥167.00")
    pay_sheet.get_by_test_id("pay-confirm").click()
    order = Order.objects.get()
    expect(page).to_have_url(f"{base}/shop/orders/{order.pk}/", timeout=10_000)
    expect(page.get_by_test_id("order-status")).to_have_text("已付款", timeout=10_000)
    expect(page.get_by_test_id("order-total")).to_have_text("¥167.00")

    order.refresh_from_db()
    assert (order.subtotal, order.delivery_fee, order.discount, order.total) == (
        Decimal("182.00"), Decimal("10.00"), Decimal("25.00"), Decimal("167.00"))
    assert order.payment.amount_fen == 16700
    assert OrderLine.objects.get(order=order).discount == Decimal("25.00")
    assert CouponRedemption.objects.get(released_at__isnull=True).order_id == order.pk

    # --- 我的优惠券: now under 已使用, with the order's number --------------------------------------
    page.goto(base + "/shop/coupons/")
    expect(page.get_by_test_id("coupons-empty")).to_be_visible()
    page.get_by_test_id("coupon-tab-used").click()
    expect(page.get_by_test_id("coupon-card")).to_contain_text(f"已用于订单 {order.number}")
    screenshot(page, "wallet-used")
