"""J5 after-sales, end to end in headless Chromium against the live server: the customer asks for a
refund on a delivered order with a photo (申请售后), staff approve part of it, and the customer sees
the decision on the request's page, then the refund and the message on the order's page."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core import signing
from playwright.sync_api import expect

from aftersales.decisions import PARTIAL, Decision, request_decide
from aftersales.models import AfterSalesPhoto, AfterSalesRequest, AfterSalesSettings
from orders.models import Refund
from tests.aftersales.conftest import jpeg_bytes, make_delivered_order
from tests.e2e.conftest import allow_subscriptions
from wechat.models import DevMessage
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _wechatpay_and_media(settings, tmp_path_factory, tmp_path):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_customer_asks_for_a_refund_with_a_photo_and_sees_the_partial_refund(live_server, transactional_db,
                                                                               new_phone, tmp_path):
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

    # --- Staff approve part of it (30.00, the goods not returned) --------------------------------
    request_decide(request_id=request.pk, user=User.objects.create_user("kefu-e2e", is_staff=True),
                   decision=Decision(kind=PARTIAL, amount="30.00", goods="written_off", message="按损耗退一部分"))

    # --- The customer sees the decision, the refund and the message ------------------------------
    page.reload()
    expect(page.get_by_test_id("aftersales-status")).to_have_text("部分同意退款")
    expect(page.get_by_test_id("aftersales-refunded")).to_contain_text("¥30.00")
    expect(page.get_by_test_id("aftersales-reply").first).to_contain_text("按损耗退一部分")
    page.goto(f"{base}/shop/orders/{world.order.pk}/")
    refund = Refund.objects.get(order=world.order, amount=Decimal("30.00"))
    expect(page.locator('[data-testid="order-refund"]', has_text="¥30.00")).to_contain_text(refund.reason)
    expect(page.get_by_test_id("order-message-title")).to_contain_text(["售后处理结果"])

    # --- 消息: the decision's message, delivered as a WeChat service notice (consent given) ---
    page.goto(f"{base}/shop/messages/")
    decision_message = page.locator('[data-testid="message"][data-template="aftersales_result"]')
    expect(decision_message.get_by_test_id("message-title")).to_have_text("售后处理结果")
    expect(decision_message.get_by_test_id("message-body")).to_contain_text("¥30.00")
    expect(decision_message.get_by_test_id("message-delivery")).to_have_text("已通过微信服务通知发送")
    assert DevMessage.objects.filter(to=world.visitor.openid, template_id="dev-template-aftersales_result").count() == 1
    assert errors == []
