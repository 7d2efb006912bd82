"""What a first visitor sees: the shop list with its pictures, the staff login pages and the admin's
order page — each screenshotted into test-artifacts/, with no broken request (favicon included)."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from playwright.sync_api import expect

from catalog.services import cart_line_set
from demo.seed import DemoPlan
from demo.catalog import categories_seed, products_seed, suppliers_seed
from demo.pictures import product_pictures_seed
from demo.stock import stock_seed
from orders.models import Order
from orders.services import DeliveryInput, order_place
from orders.services.transitions import order_transition
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock

pytestmark = pytest.mark.e2e

DEMO = DemoPlan(products=60, suppliers=3, reps=1, customers=1, history_months=0)


def _failures(page) -> list:
    failed = []
    page.on("response", lambda response: failed.append((response.status, response.url)) if response.status >= 400 else None)
    # A request the browser itself aborted (the page moved on before an icon finished loading) is
    # not a broken link; a missing file still shows up above as its 404.
    page.on("requestfailed", lambda request: None if "ERR_ABORTED" in (request.failure or "")
            else failed.append(("failed", request.url, request.failure)))
    return failed


def test_shop_list_shows_each_products_picture_at_list_size(live_server, transactional_db, new_phone, screenshot):
    for step in (categories_seed, suppliers_seed, products_seed, product_pictures_seed, stock_seed):
        step(DEMO)
    page = new_phone(device_scale_factor=2).new_page()
    failed = _failures(page)
    page.goto(live_server.url + "/shop/")

    thumbs = page.get_by_test_id("product-thumb")
    expect(thumbs.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=product-thumb]')].slice(0, 3)"
        ".every((img) => img.complete && img.naturalWidth > 0)")
    first = thumbs.first
    assert first.get_attribute("width") == "160" and first.get_attribute("height") == "160"
    assert first.get_attribute("loading") == "lazy"
    assert "/media/products/demo/thumbs/" in first.get_attribute("src")
    assert first.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [160, 160]
    screenshot(page, "shop-list-pictures")

    page.get_by_test_id("product").first.locator("a").first.click()
    picture = page.get_by_test_id("product-image")
    expect(picture).to_be_visible()
    page.wait_for_function("() => { const img = document.querySelector('[data-testid=product-image]');"
                           " return img && img.complete && img.naturalWidth === 320; }")
    screenshot(page, "product-picture")
    assert failed == []


@pytest.mark.parametrize("url", ["/rep/login/", "/ops/login/"], ids=["rep", "ops"])
def test_staff_login_pages_show_no_template_source(live_server, transactional_db, new_phone, screenshot, url):
    page = new_phone().new_page()
    failed = _failures(page)
    page.goto(live_server.url + url)
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    text = page.locator("body").inner_text()
    assert "{#" not in text and "#}" not in text and "error_class" not in text
    page.wait_for_load_state("networkidle")
    screenshot(page, url.strip("/").replace("/", "-"))
    assert failed == []


def test_admin_order_page_is_read_only_and_speaks_chinese(live_server, transactional_db, browser, screenshot):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-1")
    product = product_with_stock(price=Decimal("150.00"), on_hand="100", name="去皮虾仁")
    visitor = VisitorFactory(customer=CustomerFactory(name="湘味小馆"))
    cart_line_set(visitor=visitor, product_id=product.pk, quantity="1")
    delivery = DeliveryInput.parse({"restaurant_name": "湘味小馆", "contact_name": "王老板",
                                    "address": "深圳市福田区福华路 88 号", "latitude": "22.54", "longitude": "114.06"})
    order = order_place(visitor=visitor, idempotency_key=uuid.uuid4().hex, delivery=delivery)[0]
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        order_transition(order=locked, to_status=Order.Status.PAID, actor="wechatpay", note="微信支付成功")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        failed = _failures(page)
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-boss-1")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")

        expect(page.locator("#content h2").first).to_contain_text(order.number)
        expect(page.locator("input[name=_save], input[name=_continue], input[name=_addanother]")).to_have_count(0)
        timeline = page.locator("#events-group")
        expect(timeline).to_contain_text("待付款 → 已付款")
        expect(timeline).to_contain_text("微信支付")
        expect(timeline).to_contain_text("客户")
        assert "pending_payment" not in timeline.inner_text() and "wechatpay" not in timeline.inner_text()
        screenshot(page, "admin-order")

        # The list: short columns stay on one line (one row of text per order).
        page.goto(live_server.url + "/admin/orders/order/")
        status_cell = page.locator("#result_list tbody td.field-status").first
        expect(status_cell).to_have_text("已付款")
        line_height = status_cell.evaluate("(td) => parseFloat(getComputedStyle(td).lineHeight) || 20")
        assert status_cell.evaluate("(td) => td.getBoundingClientRect().height") < 2.5 * line_height
        screenshot(page, "admin-orders")
        assert failed == []
    finally:
        context.close()
