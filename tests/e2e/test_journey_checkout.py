"""J1 (acquire and first order) and J2 (return visit) through checkout and WeChat Pay.

Headless Chromium on a phone-sized page against the live server: the pages place the order and
pay through /api/v1/ and the dev WeChat (phone sheet, pay sheet), and the dev WeChat Pay sends
its signed notification to the live server's notify URL over real HTTP. The database is checked
at the end to see what the server really holds.
"""

import json
import time
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import CartLine, Product
from catalog.services import cart_line_set
from customers.models import Customer, Visitor
from crm.models import WelcomeDue
from logistics.models import Stock
from notifications.models import Notification
from orders.models import Order, OrderSettings, Payment, PaymentNotification, Refund
from orders.services import delivery_date_for
from reps.models import EntryEvent, Scene
from tests.e2e.conftest import allow_subscriptions
from tests.factories import CategoryFactory, CustomerFactory, RepFactory, SubCategoryFactory, product_with_stock
from wechat.models import DevMessage, DevPayTransaction

pytestmark = pytest.mark.e2e

# Where the phone stands (GCJ-02, as wx.getLocation({type: 'gcj02'}) reports it).
HERE = {"latitude": 22.543096, "longitude": 114.057865}


@pytest.fixture(autouse=True)
def _wechatpay(settings, tmp_path_factory):
    # Keys generated once per session; the notification goes to the live server's own URL.
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.WECHATPAY_DEV_DUPLICATE_NOTIFY = True


@pytest.fixture
def rules(transactional_db):
    row = OrderSettings.current()
    row.min_order_amount = Decimal("100.00")
    row.delivery_fee = Decimal("10.00")
    row.free_delivery_threshold = Decimal("300.00")
    row.save()
    return row


@pytest.fixture
def shelves(transactional_db):
    shrimp = CategoryFactory(name="冻虾类", sort_order=1)
    fish = CategoryFactory(name="冻鱼类", sort_order=2)
    return {
        "peeled": SubCategoryFactory(parent=shrimp, name="虾仁", sort_order=1),
        "whole": SubCategoryFactory(parent=shrimp, name="整虾", sort_order=2),
        "fish": SubCategoryFactory(parent=fish, name="鱼段", sort_order=1),
        "squid": SubCategoryFactory(parent=CategoryFactory(name="冻鱿鱼", sort_order=3), name="鱿鱼须"),
    }


def product_row(page, code):
    return page.locator(f'[data-testid="product"][data-code="{code}"]')


def listed_codes(page):
    return page.locator('[data-testid="product"]').evaluate_all("rows => rows.map(row => row.dataset.code)")


def tap(page, code, button, expected):
    row = product_row(page, code)
    row.get_by_test_id(button).click()
    expect(row.get_by_test_id("stepper-qty")).to_have_text(expected)


def eventually(check, timeout=5.0):
    """Wait for something the page set off in the background (a launch being reported)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def expected_delivery_text(rules) -> str:
    day = delivery_date_for(moment=timezone.now(), settings_row=rules)
    return f"预计 {day.month}月{day.day}日 送达，{rules.cutoff_time:%H:%M} 前下单次日送达"


def test_first_order_from_a_reps_code_then_return_visit_and_buy_again(
    live_server, transactional_db, rules, shelves, new_phone, screenshot
):
    rep = RepFactory(name="李业务")
    peeled = product_with_stock(on_hand="12", code="SP1001", name="去皮虾仁", unit=Product.Unit.BAG,
                                price=Decimal("25.00"), category=shelves["peeled"])
    white = product_with_stock(on_hand="80", code="SP1002", name="冻南美白虾", spec="40-50只/斤", unit=Product.Unit.JIN,
                               price=Decimal("18.86"), min_quantity=Decimal("2"), step_quantity=Decimal("0.5"),
                               category=shelves["whole"])
    hairtail = product_with_stock(on_hand="30", code="SP2001", name="冻带鱼段", spec="5kg/箱", unit=Product.Unit.BOX,
                                  price=Decimal("168.00"), category=shelves["fish"])
    phone = new_phone(geolocation=HERE, permissions=["geolocation"])
    page = phone.new_page()

    # J1: the restaurant scans rep 李's code in person (scene 1047).
    page.goto(live_server.url + f"/shop/?scene=r%3D{rep.key}&launch_scene=1047")
    sidebar = page.get_by_test_id("sidebar")
    expect(page.get_by_test_id("category")).to_have_count(3)
    sidebar.get_by_text("冻鱼类", exact=True).click()
    expect(product_row(page, "SP2001")).to_be_visible()
    tap(page, "SP2001", "stepper-plus", "1")

    search = page.get_by_test_id("search-input")
    search.fill("虾")
    expect(page.get_by_test_id("search-header")).to_contain_text("共 2 件")
    assert listed_codes(page) == ["SP1001", "SP1002"]
    search.fill("xr")
    search.press("Enter")
    expect(page.get_by_test_id("search-header")).to_contain_text("共 1 件")
    assert listed_codes(page) == ["SP1001"]
    tap(page, "SP1001", "stepper-plus", "1")
    tap(page, "SP1001", "stepper-plus", "2")
    page.get_by_test_id("search-back").click()
    sidebar.get_by_text("冻虾类", exact=True).click()
    expect(page.locator('[data-testid="product"]')).to_have_count(2)
    tap(page, "SP1002", "stepper-plus", "2")
    tap(page, "SP1002", "stepper-plus", "2.5")
    tap(page, "SP1002", "stepper-plus", "3")
    tap(page, "SP1002", "stepper-minus", "2.5")
    expect(page.get_by_test_id("cart-total")).to_have_text("¥265.15")  # 168 + 2 × 25 + 2.5 × 18.86

    # Cart → 去结算: checkout asks for the phone first and a nickname. As in WeChat, the phone
    # sheet never opens by itself: the buyer taps 授权手机号 (a getPhoneNumber button).
    page.get_by_test_id("tab-cart").click()
    expect(page.get_by_test_id("cart-line")).to_have_count(3)
    expect(page.get_by_test_id("checkout-note")).to_be_hidden()
    page.get_by_test_id("checkout").click()
    expect(page.get_by_test_id("auth-card")).to_be_visible()
    sheet = page.get_by_test_id("phone-sheet")
    expect(sheet).to_be_hidden()
    screenshot(page, "phone-button")
    page.get_by_test_id("open-phone-sheet").click()
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("申请获取你的手机号")
    screenshot(page, "phone-sheet")
    sheet.get_by_test_id("phone-input").fill("13912345678")
    sheet.get_by_test_id("nickname-input").fill("王老板")
    sheet.get_by_test_id("phone-allow").click()
    expect(sheet).to_be_hidden()

    # Delivery details: the contact comes from the nickname; the pin from where the phone is.
    form = page.get_by_test_id("delivery-form")
    expect(form.get_by_test_id("customer-phone")).to_have_text("13912345678")
    expect(form.get_by_test_id("contact-input")).to_have_value("王老板")
    expect(form.get_by_test_id("restaurant-input")).to_have_value("")
    form.get_by_test_id("restaurant-input").fill("湘味小馆(福田店)")
    form.get_by_test_id("district-select").select_option("福田区")
    form.get_by_test_id("address-input").fill("深圳市福田区福华路 88 号")
    form.get_by_test_id("locate").click()
    expect(form.get_by_test_id("location-text")).to_have_text("22.543096, 114.057865")

    # The server's quote: below 300, so 10 delivery; tomorrow if before 23:00.
    expect(page.get_by_test_id("subtotal")).to_have_text("¥265.15")
    expect(page.get_by_test_id("delivery-fee")).to_have_text("¥10.00")
    expect(page.get_by_test_id("total")).to_have_text("¥275.15")
    expect(page.get_by_test_id("delivery-date")).to_have_text(expected_delivery_text(rules))
    expect(page.get_by_test_id("shortfall")).to_be_hidden()
    shown_total = page.get_by_test_id("total").inner_text()
    screenshot(page, "checkout")

    # 提交订单, tapped twice fast: one order, then the WeChat Pay sheet for the server's amount.
    page.get_by_test_id("submit").dblclick()
    # In the tap, before paying: WeChat's consent sheet for the payment's and the delivery's messages,
    # and, this being a new restaurant still owed its welcome, the welcome's (crm.welcome).
    allow_subscriptions(page, keep=True, titles=("订单支付成功通知", "订单送达通知", "新客户欢迎通知"))
    pay_sheet = page.get_by_test_id("pay-sheet")
    expect(pay_sheet.get_by_test_id("pay-amount")).to_have_text("¥275.15")
    screenshot(page, "pay-sheet")
    assert Order.objects.count() == 1
    pay_sheet.get_by_test_id("pay-confirm").click()

    # The notification arrives over HTTP; the order page shows it paid within seconds.
    expect(page).to_have_url(f"{live_server.url}/shop/orders/{Order.objects.get().pk}/", timeout=10_000)
    expect(page.get_by_test_id("order-status")).to_have_text("已付款", timeout=10_000)
    expect(page.get_by_test_id("order-total")).to_have_text("¥275.15")
    expect(page.get_by_test_id("order-line")).to_have_count(3)
    expect(page.get_by_test_id("timeline-item")).to_have_count(2)
    expect(page.get_by_test_id("timeline-item")).to_contain_text(["已付款", "待付款"])
    screenshot(page, "order-paid")

    order = Order.objects.select_related("payment", "customer", "visitor").get()
    visitor = Visitor.objects.get()
    customer = Customer.objects.get()
    assert order.status == Order.Status.PAID
    assert order.payment.status == Payment.Status.SUCCEEDED
    assert DevPayTransaction.objects.get().state == DevPayTransaction.State.SUCCESS
    # The dev WeChat Pay notified twice over HTTP, as WeChat Pay may; the second changed nothing.
    assert sorted(PaymentNotification.objects.filter(out_trade_no=order.number).values_list("outcome", flat=True)) == [
        "already_paid", "paid"]
    assert f"¥{order.total}" == shown_total
    assert (order.subtotal, order.delivery_fee, order.total) == (Decimal("265.15"), Decimal("10.00"), Decimal("275.15"))
    assert (order.visitor_id, order.customer_id) == (visitor.pk, customer.pk)
    assert (visitor.customer_id, visitor.phone, visitor.nickname) == (customer.pk, "13912345678", "王老板")
    assert (customer.phone, customer.name, customer.address, customer.district) == (
        "13912345678", "湘味小馆(福田店)", "深圳市福田区福华路 88 号", "福田区")
    assert (order.latitude, order.longitude) == (Decimal("22.543096"), Decimal("114.057865"))
    assert customer.rep_id == rep.pk and customer.acquired_by_id == rep.pk and order.rep_id == rep.pk
    # The welcome, accepted in that sheet, was sent to this WeChat user, once, with rep 李's name.
    welcome = Notification.objects.get(template="welcome")
    assert (welcome.event_key, welcome.status, welcome.address, welcome.body) == (
        f"welcome:{customer.pk}", Notification.Status.SENT, visitor.openid, "您好，我是您的专属业务员李业务，有任何需要随时找我！")
    assert list(DevMessage.objects.filter(template_id=settings.WECHAT_SUBSCRIBE_TEMPLATES["welcome"])
                .values_list("to", flat=True)) == [visitor.openid]
    assert WelcomeDue.objects.get(customer=customer).released_by == WelcomeDue.Release.CONSENT
    assert Notification.objects.get(template="order_paid").status == Notification.Status.SENT
    # At most 3 templates a tap: with catch-weight goods the welcome takes the delivery notice's place.
    assert page.evaluate("subscribe.onPaying({catchWeight: true, welcome: true})") == [
        "order_paid", "weight_refund", "welcome"]
    assert page.evaluate("subscribe.onPaying({catchWeight: false, welcome: false})") == ["order_paid", "delivery_done"]
    assert visitor.first_rep_id == rep.pk
    entry = EntryEvent.objects.get()
    assert (entry.visitor_id, entry.rep_id, entry.scene_code, entry.scene_kind, entry.visit_kind, entry.credited) == (
        visitor.pk, rep.pk, 1047, Scene.IN_PERSON, EntryEvent.Visit.FIRST, True)
    assert sorted(order.lines.values_list("product_code", "quantity")) == [
        ("SP1001", Decimal("2.00")), ("SP1002", Decimal("2.50")), ("SP2001", Decimal("1.00"))]
    assert {s.product_id: s.reserved for s in Stock.objects.all()} == {
        peeled.pk: Decimal("2.00"), white.pk: Decimal("2.50"), hairtail.pk: Decimal("1.00")}
    assert not CartLine.objects.exists()

    # The timeline is in Shanghai time; a refund, once there is one, is listed with its state.
    paid_event = order.events.get(to_status=Order.Status.PAID)
    expect(page.get_by_test_id("timeline-item").first).to_contain_text(
        "{0.month}月{0.day}日 {0:%H:%M}".format(timezone.localtime(paid_event.created_at)))
    Refund.objects.create(order=order, out_refund_no=f"{order.number}R1", amount=Decimal("12.50"), reason="短重退款",
                          status=Refund.Status.SUCCEEDED, succeeded_at=timezone.now())
    page.reload()
    expect(page.get_by_test_id("order-refund")).to_have_count(1)
    expect(page.get_by_test_id("order-refund")).to_contain_text("短重退款")
    expect(page.get_by_test_id("order-refund")).to_contain_text("已退款")
    expect(page.get_by_test_id("order-refund")).to_contain_text("¥12.50")

    # J2, next day: the same phone (cookies and storage, an expired token) opens the shop
    # directly, without any code.
    state = phone.storage_state()
    phone.close()
    for origin in state["origins"]:
        for item in origin["localStorage"]:
            if item["name"] == "visitor_token":
                item["value"] = json.dumps("1:expired:token")
    phone = new_phone(storage_state=state, geolocation=HERE, permissions=["geolocation"])
    page = phone.new_page()
    page.goto(live_server.url + "/shop/")
    expect(page.get_by_test_id("category")).to_have_count(3)
    eventually(lambda: EntryEvent.objects.count() == 2)

    page.get_by_test_id("tab-me").click()
    card = page.get_by_test_id("order-card")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("order-status")).to_have_text("已付款")
    expect(card.get_by_test_id("order-total")).to_have_text("¥275.15")
    expect(card.get_by_test_id("order-lines")).to_have_text("冻带鱼段 ×1箱、去皮虾仁 ×2袋 等 3 种")
    screenshot(page, "orders")
    card.get_by_test_id("reorder").click()
    expect(page).to_have_url(live_server.url + "/shop/cart/")
    expect(page.get_by_test_id("cart-line")).to_have_count(3)
    expect(page.get_by_test_id("cart-total")).to_have_text("¥265.15")
    assert sorted(CartLine.objects.filter(cart__visitor=visitor).values_list("product__code", "quantity")) == [
        ("SP1001", Decimal("2.00")), ("SP1002", Decimal("2.50")), ("SP2001", Decimal("1.00"))]

    # Recognised at checkout: no phone sheet, the delivery details of last time.
    page.get_by_test_id("checkout").click()
    form = page.get_by_test_id("delivery-form")
    expect(form.get_by_test_id("restaurant-input")).to_have_value("湘味小馆(福田店)")
    expect(form.get_by_test_id("address-input")).to_have_value("深圳市福田区福华路 88 号")
    expect(form.get_by_test_id("district-select")).to_have_value("福田区")
    expect(form.get_by_test_id("location-text")).to_have_text("22.543096, 114.057865")
    expect(page.get_by_test_id("phone-sheet")).to_be_hidden()
    expect(page.get_by_test_id("total")).to_have_text("¥275.15")
    screenshot(page, "checkout-return")

    assert (Visitor.objects.count(), Customer.objects.count(), Order.objects.count()) == (1, 1, 1)
    back = EntryEvent.objects.exclude(pk=entry.pk).get()
    assert (back.visitor_id, back.customer_id, back.rep_id, back.scene_code, back.visit_kind, back.credited) == (
        visitor.pk, customer.pk, None, None, EntryEvent.Visit.RETURN, False)
    assert Customer.objects.get().rep_id == rep.pk


def test_lost_answer_is_retried_with_the_same_key_and_an_unpaid_order_can_be_paid_later_or_cancelled(
    live_server, transactional_db, rules, shelves, new_phone, screenshot
):
    peeled = product_with_stock(on_hand="12", code="SP1001", name="去皮虾仁", unit=Product.Unit.BAG,
                                price=Decimal("25.00"), category=shelves["peeled"])
    squid = product_with_stock(on_hand="50", code="SQ1001", name="冻鱿鱼须", unit=Product.Unit.JIN,
                               price=Decimal("18.50"), min_quantity=Decimal("2"), step_quantity=Decimal("0.5"),
                               category=shelves["squid"])
    page = new_phone().new_page()
    page.goto(live_server.url + "/shop/cart/")
    expect(page.get_by_test_id("cart-empty")).to_be_visible()
    # A restaurant that has ordered before from this WeChat user (arranged in the database).
    visitor = Visitor.objects.get()
    customer = CustomerFactory(name="湘味小馆", contact_name="王老板", phone="13800138000", district="福田区",
                               address="深圳市福田区福华路 88 号", latitude=Decimal("22.541234"),
                               longitude=Decimal("114.061234"))
    Visitor.objects.filter(pk=visitor.pk).update(customer=customer, phone=customer.phone)
    cart_line_set(visitor=visitor, product_id=peeled.pk, quantity="2")

    # Below the minimum: the cart and checkout say how much is missing and will not submit.
    page.reload()
    expect(page.get_by_test_id("checkout-note")).to_have_text("还差 ¥50.00 起送")
    expect(page.get_by_test_id("checkout")).to_be_disabled()
    page.goto(live_server.url + "/shop/checkout/")
    expect(page.get_by_test_id("shortfall")).to_have_text("还差 ¥50.00 起送")
    expect(page.get_by_test_id("submit")).to_be_disabled()
    expect(page.get_by_test_id("phone-sheet")).to_be_hidden()
    screenshot(page, "below-minimum")

    cart_line_set(visitor=visitor, product_id=squid.pk, quantity="4")
    page.reload()
    expect(page.get_by_test_id("total")).to_have_text("¥134.00")  # 50 + 74 + 10 delivery
    expect(page.get_by_test_id("restaurant-input")).to_have_value("湘味小馆")
    expect(page.get_by_test_id("submit")).to_be_enabled()

    # The server's refusal is shown as it says it; nothing is created.
    page.get_by_test_id("address-input").fill("")
    page.get_by_test_id("submit").click()
    allow_subscriptions(page, keep=True)  # asked once; kept for the taps below
    expect(page.get_by_test_id("toptips")).to_have_text("请填写详细地址")
    assert Order.objects.count() == 0

    # The first answer is lost on the way back: the order exists, the phone does not know.
    page.get_by_test_id("address-input").fill("深圳市福田区福华路 88 号 1 楼")
    keys = []

    def lose_first_answer(route):
        keys.append(route.request.post_data_json["idempotency_key"])
        if len(keys) == 1:
            route.fetch()
            route.abort()
        else:
            route.continue_()

    page.route("**/api/v1/orders", lose_first_answer)
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("toptips")).to_have_text("网络不给力，请检查网络后重试")
    assert Order.objects.count() == 1
    page.get_by_test_id("submit").click()  # the retry sends the same key: the same order
    pay_sheet = page.get_by_test_id("pay-sheet")
    expect(pay_sheet.get_by_test_id("pay-amount")).to_have_text("¥134.00")
    assert len(keys) == 2 and keys[0] == keys[1]
    assert Order.objects.count() == 1 and Payment.objects.count() == 1

    # The buyer closes the pay sheet: the order waits, unpaid, with 去支付 and 取消订单.
    pay_sheet.get_by_test_id("pay-cancel").click()
    order = Order.objects.get()
    expect(page).to_have_url(f"{live_server.url}/shop/orders/{order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("待付款")
    expect(page.get_by_test_id("order-hint")).to_contain_text("前完成支付")
    screenshot(page, "order-pending")
    page.get_by_test_id("pay-again").click()
    expect(pay_sheet.get_by_test_id("pay-amount")).to_have_text("¥134.00")
    pay_sheet.get_by_test_id("pay-close").click()
    expect(page.get_by_test_id("toast")).to_have_text("已取消支付")
    expect(page.get_by_test_id("order-status")).to_have_text("待付款")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert DevPayTransaction.objects.get().state == DevPayTransaction.State.NOTPAY

    page.get_by_test_id("cancel-order").click()
    page.get_by_test_id("modal-confirm").click()
    expect(page.get_by_test_id("order-status")).to_have_text("已取消")
    expect(page.get_by_test_id("timeline-item")).to_have_count(2)
    expect(page.get_by_test_id("timeline-item")).to_contain_text(["已取消客户取消", "待付款提交订单"])
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert set(Stock.objects.values_list("reserved", flat=True)) == {Decimal("0.00")}
    assert DevPayTransaction.objects.get().state == DevPayTransaction.State.CLOSED

    # 再来一单 after the squid left the shelf: the page says so, then shows the cart.
    Product.objects.filter(pk=squid.pk).update(is_active=False)
    page.get_by_test_id("reorder").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_contain_text("冻鱿鱼须 已下架，未加入")
    screenshot(page, "reorder-notes")
    modal.get_by_test_id("modal-confirm").click()
    expect(page).to_have_url(live_server.url + "/shop/cart/")
    expect(page.get_by_test_id("cart-line")).to_have_count(1)
    assert list(CartLine.objects.values_list("product__code", "quantity")) == [("SP1001", Decimal("2.00"))]
    assert Order.objects.count() == 1


def test_pages_are_shells_that_read_nothing(client, db, django_assert_num_queries):
    """The pages carry no data (the API does) and hand out the CSRF cookie the dev sheets post with."""
    order_id = uuid.uuid4()
    with django_assert_num_queries(0):
        pages = [client.get(url) for url in ("/shop/checkout/", "/shop/orders/", f"/shop/orders/{order_id}/")]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all("csrftoken" in page.cookies for page in pages)
    assert [page.templates[0].name for page in pages] == ["shop/checkout.html", "shop/orders.html", "shop/order.html"]
    assert f'data-order-id="{order_id}"' in pages[2].content.decode()
    assert client.get("/shop/orders/not-an-order/").status_code == 404
