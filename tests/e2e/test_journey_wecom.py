"""J9 in headless Chromium: a restaurant adds the rep through the rep's contact-me code (the dev
WeCom), the dev WeCom's signed callback records the contact, the customer gets the welcome, and the
contact shows on the rep's assistant and in the admin, linked to the restaurant by its phone."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from reps.models import Rep, WeComContact, WeComContactEvent
from tests.factories import CustomerFactory, RepFactory
from wechat.models import DevMessage

pytestmark = pytest.mark.e2e

PASSWORD = "rep-pass-123"


@pytest.fixture
def rep(transactional_db, settings):
    settings.WECHAT_BACKEND = "dev"
    user = User.objects.create_user(username="zhangsan", password=PASSWORD)
    return RepFactory(name="张三", key="R7M4", territory="福田", user=user, wecom_user_id="zhangsan")


def test_a_restaurant_adds_the_rep_on_wecom_and_both_pages_show_it(live_server, rep, browser, new_phone,
                                                                     screenshot):
    restaurant = CustomerFactory(name="湘味小馆", phone="13922223333", rep=rep)
    User.objects.create_superuser(username="boss", password="boss-pass-123")

    # The rep's assistant shows the contact-me code beside the mini-program code, and no contacts yet.
    rep_page = new_phone().new_page()
    rep_page.goto(live_server.url + "/rep/login/")
    rep_page.get_by_test_id("username").fill("zhangsan")
    rep_page.get_by_test_id("password").fill(PASSWORD)
    rep_page.get_by_test_id("login-submit").click()
    expect(rep_page.get_by_test_id("contact-qr")).to_be_visible()
    rep_page.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=contact-qr]'); return img.complete && img.naturalWidth > 0; }")
    expect(rep_page.get_by_test_id("wecom-empty")).to_be_visible()
    screenshot(rep_page, "assistant-contact-code")

    # The restaurant owner scans it: the dev WeCom's "add" page (the code's link, on this server).
    config_id = Rep.objects.get(pk=rep.pk).wecom_config_id
    owner = new_phone().new_page()
    owner.goto(f"{live_server.url}/wechat-dev/wecom/add/{config_id}")
    owner.get_by_test_id("dev-wecom-name").fill("王老板")
    owner.get_by_test_id("dev-wecom-phone").fill("13922223333")
    owner.get_by_test_id("dev-wecom-submit").click()
    expect(owner.get_by_test_id("dev-wecom-added")).to_be_visible()
    # The welcome arrived through WeCom, with the rep's name.
    expect(owner.get_by_test_id("dev-wecom-welcome")).to_contain_text("我是张三")
    screenshot(owner, "customer-welcome")

    contact = WeComContact.objects.get()
    assert (contact.rep, contact.state, contact.name, contact.customer) == (rep, "R7M4", "王老板", restaurant)
    assert WeComContactEvent.objects.get().welcome_result == "sent"
    assert DevMessage.objects.filter(kind=DevMessage.Kind.WECOM_WELCOME, to=contact.external_userid).count() == 1

    # The rep's page lists the new contact with the restaurant it was linked to.
    rep_page.reload()
    row = rep_page.get_by_test_id("wecom-contact")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("wecom-contact-name")).to_have_text("王老板")
    expect(row.get_by_test_id("wecom-contact-customer")).to_contain_text("湘味小馆")
    expect(rep_page.get_by_test_id("wecom-active")).to_have_text("（1）")
    screenshot(rep_page, "assistant-wecom-contact")

    # The admin sees it on the rep's page and in the WeCom contacts list.
    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = admin.new_page()
        page.goto(f"{live_server.url}/admin/login/?next=/admin/reps/rep/{rep.pk}/change/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "boss-pass-123")
        page.click("input[type=submit]")
        link = page.get_by_test_id("rep-wecom-contacts")
        expect(link).to_contain_text("企业微信客户 1 位")
        link.click()
        expect(page).to_have_url(re.compile(r"/admin/reps/wecomcontact/\?rep__id__exact=\d+$"))
        expect(page.locator("#result_list")).to_contain_text("王老板")
        expect(page.locator("#result_list")).to_contain_text("湘味小馆")
        screenshot(page, "admin-wecom-contacts")
    finally:
        admin.close()
