"""J3 fulfilment, end to end on phones in headless Chromium against the live server.

The day's paid orders for tomorrow roll up into a purchase task; the purchasing driver
confirms the pick-up; a warehouse clerk receives the goods (typing the code, not the camera),
prints the batch labels and packs the order, weighing the squid under its nominal weight, which
refunds the difference through the dev WeChat Pay; the run is planned; the delivery driver, who
sees customers' phones only masked, leaves and completes the stop with a signature and a fresh
photo; the customer's phone shows the order delivered, the message and the refund.

Orders are placed and paid through the real services at 10:00 (Asia/Shanghai) for tomorrow; the
clock then moves to tomorrow 08:00 for the delivery. time-machine moves the server's clock too
(the live server runs in this process).
"""

import itertools
import time
from datetime import datetime, timedelta
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core import signing
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect
from pypdf import PdfReader

from catalog.services import cart_line_set
from logistics.dispatch import runs_build
from logistics.models import Batch, DeliveryRun, PurchaseTask, Stock, Stop
from logistics.packing import order_pack, order_pack_start
from logistics.purchasing import purchase_tasks_build
from logistics.roles import WAREHOUSE_GROUP, ensure_groups
from notifications.models import Notification
from orders.models import Order, OrderSettings, Refund
from orders.services import DeliveryInput, order_place, payment_prepare
from tests.factories import (
    CategoryFactory,
    CustomerFactory,
    DeliveryDriverFactory,
    PurchasingDriverFactory,
    SubCategoryFactory,
    SupplierFactory,
    VisitorFactory,
    product_with_stock,
    subscribe_consent,
)
from wechat.backends import get_backend
from wechat.models import DevMessage, DevRefund
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "pw-j3-fulfil"
WANG_PHONE = "13912345678"
ZHAO_PHONE = "13700001111"
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _wechatpay_and_media(settings, tmp_path_factory, tmp_path):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private-media"  # proof photos


def eventually(check, timeout=10.0):
    """Wait for what the server does after commit (the refund sent to WeChat Pay)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def staff(username, *, group=None, driver_factory=None, name=""):
    if driver_factory is not None:
        return driver_factory(user__username=username, user__password=PASSWORD, name=name).user
    user = User.objects.create_user(username, password=PASSWORD, first_name=name)
    user.groups.add(Group.objects.get(name=group))
    return user


def paid_order(visitor, *items, restaurant, contact, notify_url, lat, lng) -> Order:
    """Placed from the cart and paid through the dev WeChat Pay, whose signed notification comes
    to the live server over HTTP."""
    for product, quantity in items:
        cart_line_set(visitor=visitor, product_id=product.pk, quantity=quantity)
    delivery = DeliveryInput(restaurant_name=restaurant, contact_name=contact, address="深圳市福田区福华路 88 号",
                             latitude=Decimal(lat), longitude=Decimal(lng), district="福田")
    order, _ = order_place(visitor=visitor, idempotency_key=f"journey3-{next(_keys):04d}", delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url=notify_url)
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    order = Order.objects.get(pk=order.pk)  # paid by the notification, delivered eagerly after commit
    assert order.status == Order.Status.PAID
    return order


def fresh_photo(path, taken_at: datetime):
    """A small JPEG as the phone's camera writes it, with the moment it was taken (EXIF)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = timezone.localtime(taken_at).strftime("%Y:%m:%d %H:%M:%S")
    Image.new("RGB", (320, 240), (40, 120, 200)).save(path, "JPEG", exif=exif, quality=80)
    return path


def watched(context, errors: list):
    """A page whose script errors and failed requests are collected, to be asserted empty."""
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.on("console", lambda msg: msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico")
            and errors.append(f"{page.url}: {msg.text}"))
    return page


def ops_login(page, base_url, username):
    page.goto(base_url + "/ops/login/")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


@pytest.fixture
def world(transactional_db, live_server):
    ensure_groups()
    rules = OrderSettings.current()
    rules.min_order_amount, rules.delivery_fee, rules.free_delivery_threshold = (
        Decimal("100.00"), Decimal("10.00"), Decimal("300.00"))
    rules.save()
    supplier = SupplierFactory(name="南澳水产", contact_name="陈姐", phone="0755-26880000",
                               address="深圳市南山区南澳水产市场 3 号档")
    squid_shelf = SubCategoryFactory(parent=CategoryFactory(name="冻鱿鱼"), name="鱿鱼须")
    shrimp_shelf = SubCategoryFactory(parent=CategoryFactory(name="冻虾类"), name="虾仁")
    # Sold by the 斤 at the real weight, bought by the 斤 from 南澳水产; just enough stock for the
    # orders, so tomorrow's task buys it all back.
    squid = product_with_stock(on_hand="14", code="SQ3001", name="冻鱿鱼须", unit="斤", spec="", price="18.50",
                               catch_weight=True, nominal_weight=Decimal("1"), min_quantity="2",
                               step_quantity="0.5", category=squid_shelf, default_supplier=supplier,
                               purchase_unit="斤", purchase_factor=Decimal("1"))
    shrimp = product_with_stock(on_hand="20", code="SP1001", name="去皮虾仁", unit="袋", price="45.50",
                                category=shrimp_shelf, default_supplier=supplier)
    wang = CustomerFactory(name="湘味小馆", phone=WANG_PHONE)
    wang_phone = VisitorFactory(customer=wang, phone=WANG_PHONE, openid="oJ3WANG000000000000000000000")
    # 王老板 said 允许 to the messages when he paid (the checkout journey shows that sheet).
    subscribe_consent(wang_phone.openid, "order_paid", "delivery_done", "weight_refund")
    zhao = CustomerFactory(name="潮汕牛肉火锅", phone=ZHAO_PHONE)
    zhao_phone = VisitorFactory(customer=zhao, phone=ZHAO_PHONE)
    return {
        "supplier": supplier, "squid": squid, "shrimp": shrimp, "wang": wang, "wang_phone": wang_phone,
        "zhao_phone": zhao_phone,
        "buyer": staff("driver_chen", driver_factory=PurchasingDriverFactory, name="陈师傅"),
        "clerk": staff("clerk_li", group=WAREHOUSE_GROUP, name="李仓管"),
        "courier": staff("driver_zhou", driver_factory=DeliveryDriverFactory, name="周师傅"),
    }


def test_paid_orders_are_bought_received_packed_with_a_refund_and_delivered_with_proof(
    live_server, world, new_phone, screenshot, tmp_path
):
    base = live_server.url
    squid, shrimp = world["squid"], world["shrimp"]
    errors: list[str] = []
    today = timezone.localdate()
    with time_machine.travel(datetime(today.year, today.month, today.day, 10, 0, tzinfo=SHANGHAI),
                             tick=True) as clock:
        tomorrow = today + timedelta(days=1)
        notify_url = base + "/payments/wechatpay/notify"
        # 10 斤 squid (185.00) + 2 bags of shrimp (91.00) + 10.00 delivery = 286.00 paid.
        order = paid_order(world["wang_phone"], (squid, "10"), (shrimp, "2"), restaurant="湘味小馆(福田店)",
                           contact="王老板", notify_url=notify_url, lat="22.541234", lng="114.061234")
        other = paid_order(world["zhao_phone"], (squid, "4"), (shrimp, "2"), restaurant="潮汕牛肉火锅",
                           contact="赵老板", notify_url=notify_url, lat="22.547000", lng="114.085000")
        assert (order.delivery_date, order.total, order.status) == (tomorrow, Decimal("286.00"), Order.Status.PAID)

        # The office rolls tomorrow's orders up and gives the task to 陈师傅 (in admin).
        report = purchase_tasks_build(for_date=tomorrow)
        assert (report.created, report.lines, report.no_supplier) == (1, 1, [])
        task = PurchaseTask.objects.get()
        line = task.lines.get()
        assert (line.product_id, line.ordered_quantity, line.available_quantity, line.purchase_quantity,
                line.purchase_unit) == (squid.pk, Decimal("14.00"), Decimal("0.00"), Decimal("14.00"), "斤")
        PurchaseTask.objects.filter(pk=task.pk).update(driver=world["buyer"].driver)

        # --- The purchasing driver collects at the supplier ---------------------------------
        page = watched(new_phone(), errors)
        ops_login(page, base, "driver_chen")
        expect(page).to_have_url(base + "/ops/purchasing/")
        card = page.get_by_test_id(f"task-{task.pk}")
        expect(page.get_by_test_id(f"day-{tomorrow.isoformat()}")).to_contain_text("南澳水产")
        expect(card).to_contain_text("冻鱿鱼须")
        expect(card).to_contain_text("14 斤")
        card.get_by_role("link", name="确认提货").click()
        form = page.get_by_test_id("confirm-form")
        form.locator(f'input[name="quantity-{line.pk}"]').fill("14")
        form.locator(f'input[name="weight-{line.pk}"]').fill("14.20")
        screenshot(page, "purchase-task")
        page.get_by_test_id("confirm").click()
        expect(page).to_have_url(base + "/ops/purchasing/")
        expect(page.get_by_role("status")).to_contain_text("已确认：南澳水产（已提货）")
        task.refresh_from_db()
        assert task.status == PurchaseTask.Status.COLLECTED
        page.context.close()

        # --- The clerk receives the goods, typing the code (no camera) -----------------------
        clerk_phone = new_phone()
        page = watched(clerk_phone, errors)
        ops_login(page, base, "clerk_li")
        expect(page).to_have_url(base + "/ops/receiving/")
        page.get_by_test_id("purchase-task").select_option(str(task.pk))
        expect(page.get_by_test_id("supplier")).to_have_value(str(world["supplier"].pk))
        page.get_by_test_id("search").fill("SQ3001")
        page.get_by_test_id("search").press("Enter")
        row = page.get_by_test_id("line")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("冻鱿鱼须")
        expect(row).to_contain_text("按实重")
        row.locator('input[name="quantity"]').fill("14")
        row.locator('input[name="weight"]').fill("14.20")
        row.locator('input[name="production_date"]').fill((today - timedelta(days=3)).isoformat())
        row.locator('input[name="expiry_date"]').fill((today + timedelta(days=180)).isoformat())
        row.locator('input[name="unit_cost"]').fill("15.00")
        screenshot(page, "receiving")
        page.get_by_test_id("submit").click()
        expect(page).to_have_url(f"{base}/ops/receiving/{task.receipts.get().pk}/")
        batch = Batch.objects.get()
        expect(page.get_by_test_id(f"batch-{batch.code}")).to_contain_text("14.2 斤")
        assert (batch.product_id, batch.quantity, batch.weight) == (squid.pk, Decimal("14.00"), Decimal("14.20"))
        stock = Stock.objects.get(product=squid)
        assert (stock.on_hand, stock.reserved) == (Decimal("28.00"), Decimal("14.00"))

        # The labels: the page's own form (GET, opened in a new tab), fetched with the clerk's session.
        action = page.get_by_test_id("labels").evaluate("button => button.form.action")
        pdf = page.request.get(action + "?copies=1")
        assert pdf.status == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.body().startswith(b"%PDF")
        reader = PdfReader(BytesIO(pdf.body()))
        assert len(reader.pages) == 1
        assert batch.code in reader.pages[0].extract_text()

        # --- Packing: 9.62 斤 of squid instead of 10 ------------------------------------------
        page.goto(base + "/ops/packing/")
        expect(page.locator(f'[data-order="{order.number}"]')).to_be_visible()
        page.locator(f'[data-order="{order.number}"]').click()
        page.get_by_role("button", name="开始备货").click()
        squid_line, shrimp_line = order.lines.get(product=squid), order.lines.get(product=shrimp)
        page.locator(f'input[name="weight_{squid_line.pk}"]').fill("9.62")
        expect(page.locator(f'[data-line="{squid_line.pk}"]')).to_contain_text("实际金额 ¥177.97（少 ¥7.03）")
        expect(page.locator(f'[data-line="{shrimp_line.pk}"]')).to_contain_text("实际金额 ¥91.00")
        screenshot(page, "packing")
        page.get_by_role("button", name="确认打包").click()
        expect(page).to_have_url(f"{base}/ops/packing/{order.pk}/result/")
        result = page.locator("[data-refund]")
        expect(result).to_have_attribute("data-refund", "7.03")
        expect(result).to_contain_text("¥278.97")
        expect(result).to_contain_text("实重差额退款")
        screenshot(page, "packed")
        refund = Refund.objects.get(order=order)
        assert (refund.amount, refund.reason) == (Decimal("7.03"), "实重差额退款")
        eventually(lambda: DevRefund.objects.filter(out_refund_no=refund.out_refund_no).exists())
        assert DevRefund.objects.get().amount_fen == 703
        squid_line.refresh_from_db()
        assert (squid_line.actual_weight, squid_line.actual_amount) == (Decimal("9.62"), Decimal("177.97"))
        clerk_phone.close()

        # The other order is packed at its nominal weight; then the office plans tomorrow's runs.
        order_pack_start(order_id=other.pk, user=world["clerk"])
        order_pack(order_id=other.pk, user=world["clerk"], lines=[
            {"line_id": line.pk, "actual_weight": "4.00"} if line.catch_weight else {"line_id": line.pk}
            for line in other.lines.all()])
        plan = runs_build(delivery_date=tomorrow, time_limit_s=1)
        assert (plan.added, plan.dropped) == (2, {})

        # --- Tomorrow morning: the delivery driver --------------------------------------------
        clock.move_to(datetime(tomorrow.year, tomorrow.month, tomorrow.day, 8, 0, tzinfo=SHANGHAI))
        page = watched(new_phone(), errors)
        ops_login(page, base, "driver_zhou")
        expect(page).to_have_url(base + "/ops/delivery/")
        stops = page.get_by_test_id("stop")
        expect(stops).to_have_count(2)
        expect(page.get_by_test_id("run-status")).to_have_text("已排线")
        masked = {order.pk: "139****5678", other.pk: "137****1111"}
        expect(stops.get_by_test_id("phone")).to_have_text(
            [masked[order_id] for order_id in Stop.objects.order_by("sequence").values_list("order_id", flat=True)])
        html = page.content()
        assert WANG_PHONE not in html and ZHAO_PHONE not in html
        screenshot(page, "run")
        page.get_by_test_id("start-run").click()
        expect(page.get_by_test_id("run-status")).to_have_text("配送中")
        assert Order.objects.get(pk=order.pk).status == Order.Status.OUT_FOR_DELIVERY

        stop = Stop.objects.get(order=order)
        page.locator(f'[data-stop-id="{stop.pk}"]').get_by_test_id("complete-link").click()
        expect(page.get_by_test_id("stop")).to_contain_text("湘味小馆(福田店)")
        assert WANG_PHONE not in page.content()
        form = page.get_by_test_id("complete-form")
        form.get_by_label("当面签收").check()
        form.get_by_test_id("signed-by").fill("王老板")
        form.get_by_test_id("photo").set_input_files(
            fresh_photo(tmp_path / "proof.jpg", timezone.now() - timedelta(minutes=2)))
        screenshot(page, "proof")
        form.get_by_test_id("complete").click()
        expect(page).to_have_url(f"{base}/ops/delivery/?date={tomorrow.isoformat()}")
        expect(page.get_by_role("status")).to_contain_text(f"第 {stop.sequence} 站已送达，已通知客户")
        expect(page.locator(f'[data-stop-id="{stop.pk}"]')).to_contain_text("王老板签收")
        stop.refresh_from_db()
        assert (stop.status, stop.proof_kind, stop.signed_by) == (Stop.Status.DELIVERED, "signed", "王老板")
        assert stop.photo.name.endswith(".jpg") and stop.photo_taken_at is not None
        assert DeliveryRun.objects.get().status == DeliveryRun.Status.IN_PROGRESS  # the other stop is pending
        message = Notification.objects.get(event_key=f"order:{order.pk}:delivered")
        assert (message.recipient_kind, message.recipient_id, message.address) == (
            "customer", str(world["wang"].pk), world["wang_phone"].openid)
        eventually(lambda: DevMessage.objects.filter(to=world["wang_phone"].openid,
                                                     template_id="dev-template-delivery_done").exists())

        # --- The customer's phone (王老板's WeChat user) ---------------------------------------
        customer_phone = new_phone()
        customer_phone.add_cookies([{
            "name": DEVICE_COOKIE, "url": base,
            "value": signing.get_cookie_signer(salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(
                world["wang_phone"].openid),
        }])
        page = watched(customer_phone, errors)
        page.goto(f"{base}/shop/orders/{order.pk}/")
        expect(page.get_by_test_id("order-status")).to_have_text("已送达")
        expect(page.get_by_test_id("timeline-item").first).to_contain_text("已送达")
        expect(page.get_by_test_id("timeline-item").first).to_contain_text("王老板签收")
        messages = page.get_by_test_id("order-message")
        # Oldest first: paid, the catch-weight refund at packing, its 退款成功 from WeChat Pay, the delivery.
        expect(messages.get_by_test_id("order-message-title")).to_have_text(
            ["付款成功", "称重差价退款", "退款成功", "订单已送达"])
        expect(messages.filter(has_text="退款成功")).to_contain_text("¥7.03")
        delivered = messages.filter(has_text="订单已送达")
        expect(delivered).to_have_count(1)
        expect(delivered.get_by_test_id("order-message-body")).to_have_text(f"订单 {order.number} 已送达：王老板签收")
        expect(page.get_by_test_id("order-refund")).to_contain_text("实重差额退款")
        expect(page.get_by_test_id("order-refund")).to_contain_text("¥7.03")
        page.get_by_test_id("order-messages").scroll_into_view_if_needed()
        screenshot(page, "customer-order")

    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert errors == []


# --- Slow phones ---------------------------------------------------------------------------------


def hold_alpine(context) -> list:
    """Hold back Alpine (the pages' script) until `release`: the page is there, its script is not
    running yet, as on a slow phone. Routing also turns the browser cache off."""
    held = []
    context.route("**/vendor/alpinejs/cdn.min.js", lambda route: held.append(route))
    return held


def release(page, held: list):
    for route in held:
        try:
            route.continue_()
        except Exception:  # the request of a page already left
            pass
    held.clear()
    page.wait_for_function("() => window.Alpine !== undefined && document.readyState === 'complete'")


def test_what_is_typed_before_the_page_script_starts_is_kept(live_server, transactional_db, new_phone):
    """x-model resets an input to its component's initial value when Alpine starts: anything typed
    or chosen earlier was silently lost (a driver's collected quantity, the receipt's supplier,
    the proof kind)."""
    from tests.factories import delivery_order, purchasing_order

    base = live_server.url
    ensure_groups()
    today = timezone.localdate()
    supplier = SupplierFactory(name="南澳水产")
    squid = product_with_stock(on_hand="5", code="SQ3002", name="冻鱿鱼须", unit="斤", price="18.50",
                               default_supplier=supplier)
    purchasing_order(delivery_date=today + timedelta(days=1), items=[(squid, "5")], reserve=True)
    purchase_tasks_build(for_date=today + timedelta(days=1))
    task = PurchaseTask.objects.get()
    PurchaseTask.objects.filter(pk=task.pk).update(
        driver=staff("driver_chen", driver_factory=PurchasingDriverFactory, name="陈师傅").driver)
    staff("clerk_li", group=WAREHOUSE_GROUP, name="李仓管")
    courier = staff("driver_zhou", driver_factory=DeliveryDriverFactory, name="周师傅").driver
    delivery_order(delivery_date=today)
    runs_build(delivery_date=today, time_limit_s=1)
    from logistics.delivery import run_start

    run_start(driver=courier, run_id=DeliveryRun.objects.get().pk)
    stop = Stop.objects.get()

    # The purchasing driver types the collected quantity before the script runs.
    phone = new_phone()
    page = phone.new_page()
    ops_login(page, base, "driver_chen")
    expect(page).to_have_url(base + "/ops/purchasing/")
    held = hold_alpine(phone)
    page.goto(f"{base}/ops/purchasing/{task.pk}/", wait_until="commit")
    quantity = page.locator(f'input[name="quantity-{task.lines.get().pk}"]')
    quantity.fill("5")
    release(page, held)
    expect(quantity).to_have_value("5")
    phone.close()

    # The clerk picks the purchase task: its supplier is filled in once the script runs.
    phone = new_phone()
    page = phone.new_page()
    ops_login(page, base, "clerk_li")
    expect(page).to_have_url(base + "/ops/receiving/")
    held = hold_alpine(phone)
    page.goto(base + "/ops/receiving/", wait_until="commit")
    page.get_by_test_id("purchase-task").select_option(str(task.pk))
    release(page, held)
    expect(page.get_by_test_id("purchase-task")).to_have_value(str(task.pk))
    expect(page.get_by_test_id("supplier")).to_have_value(str(supplier.pk))
    phone.close()

    # The delivery driver taps 放置指定位置 first: the place field shows, the choice stays.
    phone = new_phone()
    page = phone.new_page()
    ops_login(page, base, "driver_zhou")
    expect(page).to_have_url(base + "/ops/delivery/")
    held = hold_alpine(phone)
    page.goto(f"{base}/ops/delivery/stops/{stop.pk}/", wait_until="commit")
    page.get_by_label("放置指定位置").check()
    release(page, held)
    expect(page.get_by_label("放置指定位置")).to_be_checked()
    expect(page.get_by_test_id("left-at")).to_be_visible()
    expect(page.get_by_test_id("signed-by")).to_be_hidden()
