"""J7 campaigns, end to end in headless Chromium against the live server: staff build a segment
in admin (its live count before saving), write a campaign for it with a coupon and send it as a rep task; the rep opens the assistant, finds the
customer with the message ready and marks it sent; the customer opens the tracked link, uses the
campaign's coupon at checkout and pays; the campaign's results show the open, the order, its GMV
and the coupon used, and so does the company dashboard (its totals, campaign table and the rep's
row). The customer then subscribes to campaign messages on 我的优惠券."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignRecipient
from catalog.services import cart_line_set
from coupons.models import CouponRedemption, CouponTemplate
from crm.models import CustomerTag, Segment, Tag, TagGroup
from notifications.models import SubscribeConsent
from orders.models import Order, OrderSettings
from tests.e2e.conftest import allow_subscriptions
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, product_with_stock
from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

pytestmark = pytest.mark.e2e
REP_PASSWORD = "rep-pass-1234"


@pytest.fixture(autouse=True)
def _wechatpay(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


def test_a_rep_task_campaign_with_a_coupon_from_admin_to_the_results(live_server, transactional_db, new_phone,
                                                                      browser, screenshot):
    rules = OrderSettings.current()
    rules.min_order_amount, rules.delivery_fee, rules.free_delivery_threshold = (
        Decimal("100.00"), Decimal("10.00"), Decimal("300.00"))
    rules.save()
    shrimp = product_with_stock(on_hand="20", code="CM1001", name="阿根廷红虾", price=Decimal("60.00"))
    rep = RepFactory(name="张三", user=User.objects.create_user(username="zhangsan", password=REP_PASSWORD))
    customer = CustomerFactory(name="湘味小馆", phone="13912340002", contact_name="王老板", rep=rep,
                               address="深圳市福田区福华路 88 号", district="福田区",
                               latitude=Decimal("22.543096"), longitude=Decimal("114.057865"))
    CustomerFactory(name="川味馆", rep=rep)  # not in the segment
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    cart_line_set(visitor=visitor, product_id=shrimp.pk, quantity=Decimal("3"))  # 180.00
    hotpot = Tag.objects.create(group=TagGroup.objects.create(name="业态"), name="火锅")
    CustomerTag.objects.create(customer=customer, tag=hotpot)
    today = timezone.localdate()
    coupon = CouponTemplate.objects.create(name="红虾满150减20", amount_off=Decimal("20.00"),
                                           min_spend=Decimal("150.00"), valid_from=today,
                                           valid_to=today + timedelta(days=14))
    User.objects.create_superuser(username="boss", password="boss-pass-123")
    base = live_server.url

    # --- Staff: the campaign, its count, sent once as a rep task --------------------------------
    office = browser.new_context(locale="zh-CN")
    office.set_default_timeout(10_000)
    admin = office.new_page()
    admin.goto(base + "/admin/login/?next=/admin/crm/segment/add/")
    admin.fill("#id_username", "boss")
    admin.fill("#id_password", "boss-pass-123")
    admin.click("input[type=submit]")

    # The segment, built in admin: the live count answers before anything is saved.
    admin.fill("#id_name", "火锅店")
    expect(admin.locator("#segment-count")).to_have_text("2 位客户 → 2 位火锅店")
    admin.locator(".field-tags .select2-search__field").click()
    admin.locator(".field-tags .select2-search__field").fill("火锅")
    admin.locator(".select2-results__option", has_text="火锅").click()
    expect(admin.locator("#segment-count")).to_have_text("2 位客户 → 1 位火锅店")
    screenshot(admin, "segment-live-count")
    admin.click("input[name=_save]")
    segment = Segment.objects.get(name="火锅店")
    assert list(segment.tags.all()) == [hotpot] and segment.created_by.username == "boss"

    admin.goto(base + "/admin/campaigns/campaign/add/")
    admin.fill("#id_name", "红虾到货")
    admin.select_option("#id_channel", "rep_task")
    admin.select_option("#id_segment", label="火锅店")
    admin.fill("#id_title", "阿根廷红虾到货")
    admin.fill("#id_text", "王老板好，阿根廷红虾到货了，送您一张满150减20的券")
    admin.fill("#id_link", "/shop/coupons/")
    admin.select_option("#id_coupon_template", label="红虾满150减20")
    admin.click("input[name=_continue]")
    expect(admin.get_by_test_id("campaign-audience")).to_have_text("2 位客户 → 1 位火锅店")
    admin.get_by_test_id("campaign-send-link").click()
    expect(admin.get_by_test_id("send-funnel")).to_have_text("2 位客户 → 1 位火锅店")
    screenshot(admin, "campaign-send-confirm")
    admin.get_by_test_id("send-confirm").click()
    expect(admin.locator(".messagelist")).to_contain_text("已开始发送「红虾到货」：分群 1 位客户")
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.SENT  # the task ran after the commit
    task = CampaignRecipient.objects.get(campaign=campaign)
    assert (task.customer_id, task.status) == (customer.pk, CampaignRecipient.Status.PENDING)

    # --- The rep: the task on the assistant, marked sent ------------------------------------------
    rep_context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 667})
    rep_context.set_default_timeout(10_000)
    rep_page = rep_context.new_page()
    rep_page.goto(base + "/rep/login/")
    rep_page.get_by_test_id("username").fill("zhangsan")
    rep_page.get_by_test_id("password").fill(REP_PASSWORD)
    rep_page.get_by_test_id("login-submit").click()
    tasks = rep_page.get_by_test_id("campaign-tasks")
    row = tasks.get_by_test_id("task")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("task-customer")).to_have_text("湘味小馆")
    expect(tasks.get_by_test_id("tasks-pending")).to_have_text("（待发送 1）")
    message = row.get_by_test_id("task-message").inner_text()
    assert message.startswith("王老板好，阿根廷红虾到货了") and "/go/" in message
    link = message.split("\n")[-1]
    screenshot(rep_page, "rep-campaign-task")
    row.get_by_test_id("task-mark-sent").click()
    expect(row.get_by_test_id("task-sent")).to_be_visible()
    expect(row).to_have_attribute("data-status", "sent")
    task.refresh_from_db()
    assert task.status == CampaignRecipient.Status.SENT and task.sent_at
    rep_context.close()

    # --- The customer: the tracked link, the coupon at checkout, paid ----------------------------
    phone = new_phone()
    phone.add_cookies([{"name": DEVICE_COOKIE, "url": base, "value": signing.get_cookie_signer(
        salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(visitor.openid)}])
    page = phone.new_page()
    page.goto(base + urlparse(link).path)
    expect(page).to_have_url(base + "/shop/coupons/")
    expect(page.get_by_test_id("coupon-card").get_by_test_id("coupon-name")).to_have_text("红虾满150减20")
    task.refresh_from_db()
    assert task.open_count == 1 and task.first_opened_at
    page.goto(base + "/shop/checkout/")
    expect(page.get_by_test_id("coupon-suggested")).to_be_visible()
    expect(page.get_by_test_id("total")).to_have_text("¥170.00")  # 180 + 10 − 20
    page.get_by_test_id("submit").click()
    allow_subscriptions(page)
    page.get_by_test_id("pay-sheet").get_by_test_id("pay-confirm").click()
    order = Order.objects.get()
    expect(page.get_by_test_id("order-status")).to_have_text("已付款", timeout=10_000)
    assert CouponRedemption.objects.get(released_at__isnull=True).order_id == order.pk

    # Subscribing to campaign messages (the subscribe channel's consent), in the tap.
    page.goto(base + "/shop/coupons/")
    page.get_by_test_id("subscribe-promotions").click()
    allow_subscriptions(page, titles=("优惠活动通知",))
    expect(page.get_by_test_id("subscribe-promotions-done")).to_be_visible()
    assert SubscribeConsent.objects.get(openid=visitor.openid, template="promotion").available == 1

    # --- The campaign's results ---------------------------------------------------------------
    admin.goto(f"{base}/admin/campaigns/campaign/{campaign.pk}/change/")
    results = admin.get_by_test_id("campaign-results")
    expect(results.get_by_test_id("result-recipients")).to_have_text("1")
    expect(results.get_by_test_id("result-sent")).to_have_text("1")
    expect(results.get_by_test_id("result-opened")).to_have_text("1")
    expect(results.get_by_test_id("result-ordered")).to_have_text("1")
    expect(results.get_by_test_id("result-gmv")).to_have_text("170.00")
    expect(results.get_by_test_id("result-coupons_used")).to_have_text("1")
    screenshot(admin, "campaign-results")

    # --- The company dashboard shows the campaign's order in its figures -------------------------
    admin.goto(base + "/admin/")
    admin.get_by_test_id("company-dashboard-link").click()
    expect(admin.get_by_test_id("total-orders")).to_have_text("1")
    expect(admin.get_by_test_id("total-gmv")).to_have_text("¥170.00")
    cells = admin.get_by_test_id("table-campaigns").locator("tbody tr").first.locator("td")
    expect(cells.nth(0)).to_have_text("红虾到货")
    # 目标客户, 已触达, 打开链接, 7 天内下单, 7 天内 GMV, 用券
    expect(cells.nth(2)).to_have_text("1")
    expect(cells.nth(3)).to_have_text("1")
    expect(cells.nth(4)).to_have_text("1")
    expect(cells.nth(5)).to_have_text("1")
    expect(cells.nth(6)).to_have_text("170.00")
    expect(cells.nth(7)).to_have_text("1")
    zhang = admin.get_by_test_id("table-reps").locator("tbody tr").filter(has_text="张三").locator("td")
    expect(zhang.nth(4)).to_have_text("170.00")  # GMV
    expect(zhang.nth(7)).to_have_text("1")       # 活动触达
    expect(zhang.nth(9)).to_have_text("170.00")  # 活动 GMV
    admin.wait_for_function("() => window.Chart && Chart.getChart('chart-daily')")
    screenshot(admin, "company-dashboard")
    office.close()
