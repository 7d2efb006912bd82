"""J1 from the rep's side, and J6: in headless Chromium against the live server.

The rep's phone (A) sits on the assistant while a restaurant's phone (B) opens the rep's entry
link. B's first order is then placed and paid server-side through the real services — the
checkout pages are tested in the shop journeys — and A must show the new customer and the
order without a reload, from its own polling of /api/v1/rep/feed.
"""

import json
import re
import time
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from catalog.services import cart_line_set
from core.geo import wgs84_to_gcj02
from customers.models import Customer, Visitor
from customers.services import customer_bind_phone
from orders.models import Order, OrderSettings
from orders.services import DeliveryInput, order_place, payment_prepare, payment_sync
from reps.models import EntryEvent, Handover, Scene, VisitNote
from reps.services import entry_record
from tests.e2e.conftest import ARTIFACTS
from tests.factories import CategoryFactory, CustomerFactory, RepFactory, SubCategoryFactory, product_with_stock
from wechat.backends import get_backend

pytestmark = pytest.mark.e2e

REP_KEY = "R7M4"
PASSWORD = "rep-pass-123"
SHENZHEN = {"latitude": 22.54, "longitude": 114.06}


@pytest.fixture(autouse=True)
def _dev_pay_keys(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


@pytest.fixture
def rep(transactional_db):
    user = User.objects.create_user(username="zhangsan", password=PASSWORD)
    return RepFactory(name="张三", key=REP_KEY, territory="福田", user=user)


@pytest.fixture
def shrimp(transactional_db):
    shelf = SubCategoryFactory(parent=CategoryFactory(name="冻虾类", sort_order=1), name="虾仁", sort_order=1)
    return product_with_stock(on_hand="50", code="SP1001", name="去皮虾仁", price=Decimal("75.00"), category=shelf)


def rep_login(page, base_url, username="zhangsan", password=PASSWORD):
    page.goto(base_url + "/rep/login/")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("login-submit").click()


def scene_cell(page, kind, column):
    return page.locator(f'[data-testid="scene-row"][data-kind="{kind}"] [data-testid="{column}"]')


def expect_entries(page, today: dict, week: dict):
    for kind, _ in Scene.CHOICES:
        expect(scene_cell(page, kind, "today")).to_have_text(str(today.get(kind, 0)))
        expect(scene_cell(page, kind, "week")).to_have_text(str(week.get(kind, 0)))


def first_order_paid_server_side(visitor: Visitor, *, base_url: str, product) -> Order:
    """What B's checkout would do: authorise the phone, fill the cart, place and pay the order."""
    code = get_backend().issue_phone_code(openid=visitor.openid, phone="13922223333")
    customer_bind_phone(visitor=visitor, phone_code=code, nickname="王老板")
    cart_line_set(visitor=visitor, product_id=product.pk, quantity="2")
    delivery = DeliveryInput(restaurant_name="湘味小馆", contact_name="王老板", address="深圳市福田区福华路 88 号",
                             latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田")
    order, created = order_place(visitor=visitor, idempotency_key=uuid.uuid4().hex, delivery=delivery)
    assert created
    params = payment_prepare(order_id=order.pk, notify_url=base_url + "/payments/wechatpay/notify")
    # The buyer pays on the (dev) WeChat Pay sheet; its notification reaches the live server, and
    # the query the mini-site makes after wx.requestPayment settles it if the notification has not.
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    assert payment_sync(order_id=order.pk) in {"paid", "already_paid"}
    order.refresh_from_db()
    return order


def test_rep_sees_a_new_customer_and_their_first_order_live(live_server, rep, shrimp, new_phone, screenshot):
    started = time.monotonic()
    OrderSettings.current()  # default rules: ¥100 minimum, ¥10 delivery under ¥300

    # A: the rep signs in on their phone and leaves the assistant open.
    rep_phone = new_phone(geolocation=SHENZHEN, permissions=["geolocation", "clipboard-read", "clipboard-write"])
    a = rep_phone.new_page()
    rep_login(a, live_server.url)
    expect(a).to_have_url(live_server.url + "/rep/")
    expect(a.get_by_test_id("rep-name")).to_have_text("张三")
    expect(a.get_by_test_id("rep-key")).to_have_text(REP_KEY)
    expect(a.get_by_test_id("feed-empty")).to_be_visible()
    expect(a.get_by_test_id("customers-empty")).to_be_visible()
    expect_entries(a, {}, {})
    # The page is one shell for every rep: the code's image is this rep's, set from /api/v1/rep/me.
    expect(a.get_by_test_id("qr-thumb")).to_have_attribute("src", f"/rep/qr.png?key={REP_KEY}")
    a.wait_for_function("() => { const img = document.querySelector('[data-testid=qr-thumb]');"
                        " return img.complete && img.naturalWidth > 0; }")
    screenshot(a, "assistant-empty")

    # B: a restaurant owner scans the rep's code with the camera (scene 1047).
    restaurant_phone = new_phone()
    b = restaurant_phone.new_page()
    b.goto(f"{live_server.url}/shop/?scene=r%3D{REP_KEY}&launch_scene=1047")
    expect(b.get_by_test_id("category")).to_have_count(1)
    visitor = Visitor.objects.get()
    entry = EntryEvent.objects.get(visitor=visitor)
    assert (entry.rep, entry.scene_kind, entry.scene_code, entry.credited) == (rep, Scene.IN_PERSON, 1047, True)
    visitor.refresh_from_db()
    assert visitor.first_rep == rep
    screenshot(b, "restaurant-shop")

    # B orders and pays (server-side, through the real services).
    order = first_order_paid_server_side(visitor, base_url=live_server.url, product=shrimp)
    assert (order.status, order.total, order.rep) == (Order.Status.PAID, Decimal("160.00"), rep)
    customer = Customer.objects.get()
    assert (customer.rep, customer.acquired_by, customer.name) == (rep, rep, "湘味小馆")
    paid_at = time.monotonic()

    # A: without a reload, the order arrives in the feed, highlighted, and the customer appears.
    item = a.locator(f'[data-testid="feed-item"][data-number="{order.number}"]')
    expect(item).to_be_visible(timeout=10_000)
    feed_seconds = time.monotonic() - paid_at
    expect(item).to_have_attribute("data-new", "true")
    expect(item).to_have_class(re.compile("rep-feed-item_new"))
    expect(item.get_by_test_id("feed-total")).to_have_text("¥160.00")
    expect(item).to_contain_text("湘味小馆")
    expect(a.get_by_test_id("toast")).to_contain_text("新订单：湘味小馆 ¥160.00")
    row = a.locator(f'[data-testid="customer"][data-id="{customer.pk}"]')
    expect(row.get_by_test_id("customer-name")).to_have_text("湘味小馆")
    expect(row.get_by_test_id("customer-spend")).to_have_text("¥160.00")
    expect(row.get_by_test_id("customer-last-order")).to_contain_text("最近下单")
    expect(a.get_by_test_id("customers-empty")).to_be_hidden()
    # The figures were refreshed with it: one in-person scan today and this week, nothing else.
    expect_entries(a, {Scene.IN_PERSON: 1}, {Scene.IN_PERSON: 1})
    expect(a.get_by_test_id("today-total")).to_have_text("1")
    expect(a.get_by_test_id("customer-count")).to_have_text("1")
    expect(a.get_by_test_id("new-customers-week")).to_have_text("1")
    expect(a.get_by_test_id("orders-today")).to_have_text("1")
    expect(a.get_by_test_id("gmv-today")).to_have_text("¥160.00")
    assert a.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # never reloaded
    screenshot(a, "assistant-new-order")

    # A opens the customer, sees the order and logs the visit with where the rep stands.
    row.click()
    expect(a).to_have_url(f"{live_server.url}/rep/customers/{customer.pk}/")
    expect(a.get_by_test_id("customer-name")).to_have_text("湘味小馆")
    expect(a.get_by_test_id("customer-phone")).to_have_text("13922223333")
    expect(a.locator(f'[data-testid="order"][data-number="{order.number}"]')).to_contain_text("已付款")
    expect(a.get_by_test_id("notes-empty")).to_be_visible()
    a.get_by_test_id("note-text").fill("老板说下周加冻虾，周三再来")
    a.get_by_test_id("note-submit").click()
    expect(a.get_by_test_id("note-body")).to_have_text(["老板说下周加冻虾，周三再来"])
    expect(a.get_by_test_id("note-located")).to_be_visible()
    note = VisitNote.objects.get()
    # The phone browser's fix (22.54, 114.06) is WGS-84; stored as GCJ-02, the pins' datum.
    stood = tuple(Decimal(repr(v)).quantize(Decimal("0.000001")) for v in wgs84_to_gcj02(22.54, 114.06))
    assert (note.rep, note.customer, (note.latitude, note.longitude)) == (rep, customer, stood)
    screenshot(a, "customer-with-note")

    # A's card: the QR, the company and the share link to copy.
    a.goto(live_server.url + "/rep/card/")
    expect(a.get_by_test_id("card-name")).to_have_text("张三")
    assert a.get_by_test_id("card-qr").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(a.get_by_test_id("share-url")).to_have_value(
        f"{live_server.url}/shop/?scene=r%3D{REP_KEY}&launch_scene=1007")
    expect(a.get_by_test_id("card-company")).to_be_visible()
    screenshot(a, "card")
    a.get_by_test_id("copy-share").click()
    expect(a.get_by_test_id("toast")).to_contain_text("分享链接已复制")
    assert a.evaluate("() => navigator.clipboard.readText()") == a.get_by_test_id("share-url").input_value()
    # Printed, it is one A6 page (105 × 148 mm = 297.6 × 419.5 pt) holding only the card.
    a.emulate_media(media="print")
    expect(a.get_by_test_id("print")).to_be_hidden()
    expect(a.get_by_test_id("share-url")).to_be_hidden()
    expect(a.get_by_test_id("card-qr")).to_be_visible()
    screenshot(a, "card-print")
    pdf = a.pdf(prefer_css_page_size=True, print_background=True)
    (ARTIFACTS / "rep-card.pdf").write_bytes(pdf)
    assert re.search(rb"/MediaBox \[0 0 29[78](\.\d+)? 4(19|20)(\.\d+)?\]", pdf)
    assert re.findall(rb"/Count (\d+)", pdf) == [b"1"]
    print(f"\nJ1 rep side: order shown on the rep's page {feed_seconds:.1f}s after payment; "
          f"test {time.monotonic() - started:.1f}s")


def test_admin_sees_the_rep_on_the_dashboard_and_hands_customers_over(live_server, rep, browser, new_phone,
                                                                     screenshot):
    """J6: the admin sees the rep's day, then hands every customer over and the rep is locked out."""
    successor = RepFactory(name="李四")
    customers = [CustomerFactory(name=f"餐厅{n}", rep=rep, acquired_by=rep) for n in range(3)]
    for n in range(2):
        visitor = Visitor.objects.create(openid=f"oE2E{n:024d}")
        entry_record(visitor=visitor, scene=f"r={REP_KEY}", launch_scene=(1047, 1048)[n], first_login=True)
    User.objects.create_superuser(username="boss", password="boss-pass-123")

    # The rep is signed in on their phone.
    rep_page = new_phone().new_page()
    rep_login(rep_page, live_server.url)
    expect(rep_page.get_by_test_id("customer")).to_have_count(3)

    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = admin.new_page()
        page.goto(live_server.url + "/admin/login/?next=/admin/reps/rep/dashboard/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "boss-pass-123")
        page.click("input[type=submit]")
        expect(page.get_by_test_id("rep-dashboard")).to_be_visible()
        rep_row = page.locator(f'[data-testid="rep-row"][data-rep="{rep.pk}"]')
        expect(rep_row.locator('[data-col="in_person"]')).to_have_text("1")
        expect(rep_row.locator('[data-col="forwarded_image"]')).to_have_text("1")
        expect(rep_row.locator('[data-col="entries_total"]')).to_have_text("2")
        # Chart.js drew both charts.
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-entries') && Chart.getChart('chart-sales')")
        screenshot(page, "admin-dashboard")

        page.goto(f"{live_server.url}/admin/reps/rep/{rep.pk}/handover/")
        page.select_option("#id_to_rep", str(successor.pk))
        page.check("input[name=scope][value=all]")
        page.fill("#id_reason", "离职")
        page.check("#id_revoke_access")
        page.click("input[type=submit]")
        expect(page.locator(".messagelist")).to_contain_text("已将 3 位客户从 张三 移交给 李四，张三 已停用")
        screenshot(page, "admin-handover-done")
    finally:
        admin.close()

    handover = Handover.objects.get()
    assert (handover.from_rep, handover.to_rep, handover.customer_count, handover.revoked_access) == (
        rep, successor, 3, True)
    assert set(Customer.objects.filter(rep=successor).values_list("pk", flat=True)) == {c.pk for c in customers}
    # The leaving rep's open page loses access at its next poll and is sent to the login.
    expect(rep_page).to_have_url(re.compile(r"/rep/login/\?next=%2Frep%2F$"), timeout=10_000)
    rep_login(rep_page, live_server.url)
    expect(rep_page.get_by_test_id("login-error")).to_contain_text("账号或密码不正确")


def test_rep_pages_through_their_customers_newest_first(live_server, rep, new_phone):
    for n in range(35):
        CustomerFactory(name=f"餐厅{n:02d}", rep=rep)
    CustomerFactory(name="别人的客户", rep=RepFactory())
    page = new_phone().new_page()
    rep_login(page, live_server.url)

    names = page.get_by_test_id("customer-name")
    expect(names).to_have_count(30)
    expect(names.first).to_have_text("餐厅34")
    expect(page.locator("#customers-title")).to_contain_text("（35）")
    page.get_by_test_id("customers-more").click()
    expect(names).to_have_count(35)
    expect(names.last).to_have_text("餐厅00")
    expect(page.get_by_test_id("customers-more")).to_be_hidden()
    assert "别人的客户" not in names.all_inner_texts()


def test_the_assistant_shell_sends_a_stranger_to_the_login_and_brings_the_rep_back(live_server, rep, new_phone):
    """/rep/ is the same page for everyone: the API it calls decides, and the page follows."""
    User.objects.create_user(username="clerk", password="clerk-pass-1")
    page = new_phone().new_page()

    page.goto(live_server.url + "/rep/#churn")
    expect(page).to_have_url(re.compile(r"/rep/login/\?next=%2Frep%2F%23churn$"))
    rep_login(page, live_server.url, username="clerk", password="clerk-pass-1")
    expect(page.get_by_test_id("login-error")).to_contain_text("此账号不是在职业务员")

    page.goto(live_server.url + "/rep/")
    expect(page).to_have_url(re.compile(r"/rep/login/\?next=%2Frep%2F$"))
    page.get_by_test_id("username").fill("zhangsan")
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(live_server.url + "/rep/")
    expect(page.get_by_test_id("rep-name")).to_have_text("张三")
    expect(page.get_by_test_id("feed-status")).to_have_text("实时")

    # Signing out from the shell: its form carries the csrftoken cookie's value.
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(live_server.url + "/rep/login/")
    page.goto(live_server.url + "/rep/")
    expect(page).to_have_url(re.compile(r"/rep/login/\?next=%2Frep%2F$"))


def test_an_expired_feed_token_is_renewed_without_reloading_the_page(live_server, rep, new_phone):
    customer = CustomerFactory(name="湘味小馆", rep=rep)
    page = new_phone().new_page()
    me_calls = []
    page.on("request", lambda request: me_calls.append(request.url) if "/api/v1/rep/me" in request.url else None)
    expired = {"left": 1}

    def poll(route):
        # The first poll after the page opened answers as the server does for a token past its age.
        if expired["left"]:
            expired["left"] -= 1
            route.fulfill(status=401, content_type="application/json", body=json.dumps(
                {"error": {"code": "feed_token_invalid", "message": "订单动态已过期，请刷新页面", "details": {}}}))
        else:
            route.continue_()

    rep_login(page, live_server.url)
    expect(page.get_by_test_id("feed-empty")).to_be_visible()
    page.route("**/api/v1/rep/feed/poll*", poll)
    order = Order.objects.create(
        number="2611000000001", customer=customer, visitor=Visitor.objects.create(openid="o" + "1" * 27,
                                                                               customer=customer),
        rep=rep, status=Order.Status.PAID, idempotency_key=uuid.uuid4().hex, delivery_date=timezone.localdate(),
        subtotal=Decimal("88.00"), total=Decimal("88.00"), restaurant_name=customer.name, contact_name="王",
        phone=customer.phone, address="深圳市福田区 1 号", expires_at=timezone.now(), paid_at=timezone.now())

    item = page.locator(f'[data-testid="feed-item"][data-number="{order.number}"]')
    expect(item).to_be_visible(timeout=10_000)
    assert expired["left"] == 0 and len(me_calls) == 2  # the page's own, and the renewal
    expect(page.get_by_test_id("feed-status")).to_have_text("实时")
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
    expect(page).to_have_url(live_server.url + "/rep/")
