"""J5 after-sales, end to end in headless Chromium against the live server: the customer asks for a
refund on a delivered order with a photo (申请售后) and allows the messages, staff approve part of it
in admin, the refund comes back from the dev WeChat Pay, and the customer sees the request 已退款 (its
page and 我的售后), the refund on the order, and the decision's and the refund's messages on 消息."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core import signing
from playwright.sync_api import expect

from aftersales.models import AfterSalesPhoto, AfterSalesRequest, AfterSalesSettings
from orders.models import Refund
from tests.aftersales.conftest import jpeg_bytes, make_delivered_order
from tests.e2e.conftest import allow_subscriptions
from wechat.models import DevMessage, DevPayTransaction
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _wechatpay_and_media(settings, tmp_path_factory, tmp_path):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_customer_asks_for_a_refund_with_a_photo_and_sees_the_partial_refund(live_server, transactional_db,
                                                                               new_phone, browser, screenshot,
                                                                               tmp_path):
    AfterSalesSettings.current()
    world = make_delivered_order()
    photo = tmp_path / "damage.jpg"
    photo.write_bytes(jpeg_bytes(size=(320, 240)))
    base = live_server.url
    phone = new_phone()
    phone.add_cookies([{"name": DEVICE_COOKIE, "url": base,
                        "value": signing.get_cookie_signer(salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(
                            world.visitor.openid)}])
    errors = []
    page = phone.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))

    # --- The customer asks ---------------------------------------------------------------------
    page.goto(f"{base}/shop/orders/{world.order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("已送达")
    page.get_by_test_id("aftersales-apply").click()
    expect(page.get_by_test_id("aftersales-form")).to_be_visible()
    line_id = world.shrimp_line.pk
    page.get_by_test_id(f"pick-{line_id}").check()
    page.get_by_test_id(f"claim-{line_id}").fill("2")
    page.get_by_test_id("aftersales-reason").select_option("damaged")
    page.get_by_test_id("aftersales-note").fill("两袋化冻了")
    page.get_by_test_id("aftersales-photos").set_input_files(str(photo))
    page.get_by_test_id("aftersales-submit").click()
    # In the tap: WeChat's consent sheet for the decision's and the refund's messages.
    allow_subscriptions(page, titles=("售后处理结果通知", "退款成功通知"))

    expect(page.get_by_test_id("aftersales-status")).to_have_text("待处理")
    request = AfterSalesRequest.objects.get()
    assert (request.reason, request.note, request.claimed_amount) == ("damaged", "两袋化冻了", Decimal("91.00"))
    assert AfterSalesPhoto.objects.filter(request=request).count() == 1

    # --- Staff approve part of it in admin (30.00, the goods not returned) -----------------------
    # The order was paid through this server, so WeChat Pay posts its refund results here.
    DevPayTransaction.objects.filter(out_trade_no=world.order.number).update(
        notify_url=f"{base}/payments/wechatpay/notify")
    User.objects.create_superuser("kefu-e2e", "kefu@example.com", "pw-kefu-1")
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        admin = desk.new_page()
        admin.goto(f"{base}/admin/login/")
        admin.fill("#id_username", "kefu-e2e")
        admin.fill("#id_password", "pw-kefu-1")
        admin.click("input[type=submit]")
        admin.goto(f"{base}/admin/aftersales/aftersalesrequest/")  # the queue, oldest first
        admin.locator("#result_list th.field-id a").first.click()
        admin.get_by_test_id("decide-link").click()
        form = admin.get_by_test_id("decision-form")
        form.locator('input[name="kind"][value="partial"]').check()
        form.locator("#id_amount").fill("30.00")
        form.locator('input[name="goods"][value="written_off"]').check()
        form.locator("#id_message").fill("按损耗退一部分")
        form.locator("input[type=submit]").click()
        expect(admin.locator(".messagelist")).to_contain_text("部分同意退款，退款 ¥30.00")
    finally:
        desk.close()

    # The refund went to the dev WeChat Pay after commit; its REFUND.SUCCESS came back over HTTP:
    # the request is 已退款.
    refund = Refund.objects.get(order=world.order, amount=Decimal("30.00"))
    assert refund.status == Refund.Status.SUCCEEDED
    request.refresh_from_db()
    assert (request.status, request.refunded_amount) == (AfterSalesRequest.Status.REFUNDED, Decimal("30.00"))

    # --- The customer sees the refund, the decision and the messages -----------------------------
    page.reload()
    expect(page.get_by_test_id("aftersales-status")).to_have_text("已退款")
    expect(page.get_by_test_id("aftersales-refunded")).to_contain_text("已退款 ¥30.00")
    expect(page.get_by_test_id("aftersales-reply").first).to_contain_text("按损耗退一部分")
    page.goto(f"{base}/shop/orders/{world.order.pk}/")
    expect(page.locator('[data-testid="order-refund"]', has_text="¥30.00")).to_contain_text(refund.reason)
    expect(page.get_by_test_id("order-message-title")).to_contain_text(["售后处理结果", "退款成功"])

    # 我的售后: the request with its status and every reply.
    page.goto(f"{base}/shop/orders/")
    page.get_by_test_id("aftersales-list-link").click()
    card = page.locator(f'[data-testid="aftersales-card"][data-id="{request.pk}"]')
    expect(card.get_by_test_id("aftersales-card-status")).to_have_text("已退款")
    expect(card.get_by_test_id("aftersales-card-refunded")).to_contain_text("¥30.00")
    expect(card.get_by_test_id("aftersales-card-reply").first).to_contain_text("按损耗退一部分")

    # 消息: the decision and the refund, each delivered as a WeChat service notice (both accepted).
    page.goto(f"{base}/shop/orders/")
    page.get_by_test_id("messages-link").click()
    for template, title in (("aftersales_result", "售后处理结果"), ("refund_done", "退款成功")):
        item = page.locator(f'[data-testid="message"][data-template="{template}"]')
        expect(item.get_by_test_id("message-title")).to_have_text(title)
        expect(item.get_by_test_id("message-body")).to_contain_text("¥30.00")
        expect(item.get_by_test_id("message-delivery")).to_have_text("已通过微信服务通知发送")
    for template in ("aftersales_result", "refund_done"):
        assert DevMessage.objects.filter(to=world.visitor.openid, template_id=f"dev-template-{template}").count() == 1
    screenshot(page, "messages")
    assert errors == []
