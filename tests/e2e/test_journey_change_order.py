"""J10 changes, end to end in headless Chromium against the live server: a customer reduces a line
of a paid order before the cut-off, then cancels it, and sees both refunds go through WeChat Pay
(the dev backend's REFUND.SUCCESS notification reaching the live server) and the 退款成功 message;
past the cut-off the page says why it can no longer be changed."""

from decimal import Decimal

import pytest
import time_machine
from django.core import signing
from playwright.sync_api import expect

from logistics.models import Stock
from notifications.models import Notification
from orders.models import Order, Refund
from orders.services import DeliveryInput
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock
from tests.orders.changes_support import deadline_of, place_paid
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

from .conftest import allow_subscriptions

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _wechatpay(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


def _paid_order(live_server):
    from orders.models import OrderSettings

    rules = OrderSettings.current()
    rules.min_order_amount, rules.delivery_fee, rules.free_delivery_threshold = Decimal("100"), Decimal("10"), Decimal("300")
    rules.save()
    customer = CustomerFactory(name="湘味小馆")
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    shrimp = product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="10")
    squid = product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", min_quantity="2", step_quantity="0.5",
                               on_hand="50")
    delivery = DeliveryInput(restaurant_name="湘味小馆(福田店)", contact_name="王老板", address="深圳市福田区福华路 88 号",
                             latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田")
    # Paid through the dev WeChat Pay, whose notifications (the refunds' too) post to the live server.
    order = place_paid(visitor, delivery, [(shrimp, "4"), (squid, "4")], key="e2e-change-0001",
                       notify_url=f"{live_server.url}/payments/wechatpay/notify")
    return order, visitor, shrimp, squid


def _phone_of(new_phone, live_server, visitor):
    phone = new_phone()
    phone.add_cookies([{"name": DEVICE_COOKIE, "url": live_server.url,
                        "value": signing.get_cookie_signer(salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(
                            visitor.openid)}])
    return phone


def test_a_customer_reduces_then_cancels_a_paid_order_before_the_cutoff_and_sees_the_refunds(
        live_server, transactional_db, new_phone, screenshot):
    order, visitor, shrimp, squid = _paid_order(live_server)
    page = _phone_of(new_phone, live_server, visitor).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{live_server.url}/shop/orders/{order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("已付款")
    expect(page.get_by_test_id("change-window")).to_contain_text("截单前可取消订单或减少商品")

    # --- Fewer shrimp: 4 → 2 bags, 91.00 back ---------------------------------------------------
    page.get_by_test_id("edit-lines").click()
    page.locator(f'[data-code="{shrimp.code}"] [data-testid="line-quantity"]').fill("2")
    page.get_by_test_id("save-lines").click()
    allow_subscriptions(page, titles=("退款成功通知",))  # WeChat's sheet: the refund may be announced
    expect(page.get_by_test_id("order-total")).to_have_text("¥175.00")
    expect(page.locator('[data-testid="order-refund"]', has_text="¥91.00")).to_contain_text("截单前减少商品")
    assert Stock.objects.get(product=shrimp).reserved == Decimal("2.00")
    screenshot(page, "change-reduced")

    # --- Then cancel: the rest (175.00) back, the stock released --------------------------------
    page.get_by_test_id("cancel-paid-order").click()
    expect(page.get_by_test_id("modal")).to_contain_text("¥175.00 将原路退回")
    page.get_by_test_id("modal-confirm").click()
    allow_subscriptions(page, titles=("退款成功通知",))
    expect(page.get_by_test_id("order-status")).to_have_text("已取消")
    expect(page.locator('[data-testid="order-refund"]', has_text="¥175.00")).to_contain_text("截单前取消订单")
    assert [Stock.objects.get(product=p).reserved for p in (shrimp, squid)] == [Decimal("0.00")] * 2

    # WeChat Pay confirms each refund (REFUND.SUCCESS to the notify URL): the page shows them done
    # and the 退款成功 messages.
    refunds = Refund.objects.filter(order=order)
    assert sorted(refunds.values_list("amount", flat=True)) == [Decimal("91.00"), Decimal("175.00")]
    assert set(refunds.values_list("status", flat=True)) == {Refund.Status.SUCCEEDED}
    page.reload()
    expect(page.get_by_test_id("order-refund")).to_have_count(2)
    expect(page.locator('[data-testid="order-refund"]', has_text="¥175.00")).to_contain_text("已退款")
    expect(page.locator('[data-testid="order-message"]', has_text="退款成功")).to_have_count(2)
    messages = Notification.objects.filter(template="refund_done", recipient_id=str(order.customer_id))
    assert [message.status for message in messages] == [Notification.Status.SENT] * 2  # both were allowed
    screenshot(page, "change-cancelled")
    assert errors == []


def test_past_the_cutoff_the_page_says_why_the_order_cannot_be_changed(live_server, transactional_db, new_phone):
    order, visitor, _, _ = _paid_order(live_server)
    page = _phone_of(new_phone, live_server, visitor).new_page()

    with time_machine.travel(deadline_of(order), tick=True):  # the server's clock: the cut-off has come
        page.goto(f"{live_server.url}/shop/orders/{order.pk}/")
        expect(page.get_by_test_id("change-window")).to_contain_text("已过截单时间")
        expect(page.get_by_test_id("change-window")).to_contain_text("申请售后")
        expect(page.get_by_test_id("cancel-paid-order")).to_have_count(0)
        expect(page.get_by_test_id("edit-lines")).to_have_count(0)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
