"""J10 complaints, end to end in headless Chromium against the live server: the customer complains
about the driver from a delivered order's page, nobody answers in time, the escalation sweep tells
the managers (and again next round), a member of staff replies in the admin (the overdue complaint
at the top of the queue), and the customer sees the reply and the status on the complaint's page."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from complaints.models import Complaint, ComplaintSettings, ComplaintStaff
from complaints.services import complaints_escalate_overdue
from notifications.models import Notification
from tests.aftersales.conftest import make_delivered_order

from .conftest import allow_subscriptions, as_wechat_user, watch_csp

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_complaint_escalates_when_overdue_and_the_customer_sees_the_reply(live_server, transactional_db, new_phone,
                                                                          browser, screenshot):
    ComplaintSettings.current()
    boss = User.objects.create_superuser(username="boss", password="boss-pass-123")
    ComplaintStaff.objects.create(user=boss, escalations=True, takes_complaints=False, wecom_user_id="boss-wecom")
    world = make_delivered_order()
    base = live_server.url
    phone = new_phone()
    as_wechat_user(phone, base, world.visitor.openid)
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # --- The customer complains from the order's page -------------------------------------------
    page.goto(f"{base}/shop/orders/{world.order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("已送达")
    page.get_by_test_id("complaint-apply").click()
    expect(page.get_by_test_id("complaint-form")).to_be_visible()
    page.get_by_test_id("complaint-category").select_option("driver")
    page.get_by_test_id("complaint-text").fill("司机把货扔在门口就走，态度很差")
    page.get_by_test_id("complaint-submit").click()
    allow_subscriptions(page, titles=("投诉处理回复通知",))  # WeChat's sheet: the reply may be sent
    expect(page.get_by_test_id("complaint-status")).to_have_text("待回复")
    complaint = Complaint.objects.get()
    assert (complaint.order, complaint.customer, complaint.category) == (world.order, world.customer, "driver")
    screenshot(page, "filed")

    # --- Nobody answers: it becomes overdue, the sweep escalates it, twice ---------------------------
    Complaint.objects.filter(pk=complaint.pk).update(first_response_due=timezone.now() - timedelta(minutes=1))
    assert complaints_escalate_overdue() == 1
    assert complaints_escalate_overdue() == 0  # the same round is never told twice
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert complaints_escalate_overdue() == 1  # the next round
    told = Notification.objects.filter(recipient_kind="staff", recipient_id=str(boss.pk),
                                       event_key__contains=":escalation:").order_by("event_key")
    assert [n.event_key for n in told] == [f"complaint:{complaint.pk}:escalation:1",
                                           f"complaint:{complaint.pk}:escalation:2"]
    assert all(n.channel == "wecom" and n.address == "boss-wecom" for n in told)

    # --- Staff reply in the admin: the overdue complaint heads the queue ----------------------------
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    desk.set_default_timeout(15_000)
    violations = []
    watch_csp(desk, violations)
    admin = desk.new_page()
    admin.goto(f"{base}/admin/login/?next=/admin/complaints/complaint/")
    admin.fill("#id_username", "boss")
    admin.fill("#id_password", "boss-pass-123")
    admin.click("input[type=submit]")
    first_row = admin.locator("#result_list tbody tr").first
    expect(first_row.get_by_test_id("overdue")).to_have_text("已超时")
    first_row.locator("th a").click()
    admin.get_by_test_id("reply-link").click()
    admin.fill("#id_message", "非常抱歉，已约谈司机，明天起由其他司机为您送货")
    admin.click("[data-testid=reply-form] input[type=submit]")
    expect(admin.locator(".messagelist")).to_contain_text("已回复")
    desk.close()
    assert violations == []
    complaint.refresh_from_db()
    assert complaint.status == "answered" and complaint.first_response_at is not None
    assert complaints_escalate_overdue() == 0  # answered: no more rounds before the resolution deadline
    message = Notification.objects.get(recipient_kind="customer", template="complaint_reply")
    assert message.address == world.visitor.openid
    assert message.status == Notification.Status.SENT  # the customer allowed it when complaining

    # --- The customer sees the reply and the status ---------------------------------------------------
    page.reload()
    expect(page.get_by_test_id("complaint-status")).to_have_text("已回复，处理中")
    expect(page.get_by_test_id("complaint-reply").first).to_contain_text("已约谈司机")
    page.goto(f"{base}/shop/orders/")
    page.get_by_test_id("complaints-link").click()
    expect(page.get_by_test_id("complaint-item-status").first).to_have_text("已回复，处理中")
    screenshot(page, "replied")
    assert errors == []
