"""The company dashboard in a real browser: its four Chart.js charts (from npm, vendor/chartjs)
draw on their canvases, with no JavaScript error and nothing blocked by the CSP."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from tests.dashboard.world import order
from tests.factories import CustomerFactory, ProductFactory, RepFactory

from .conftest import watch_csp

pytestmark = pytest.mark.e2e
CHARTS = ("chart-daily", "chart-monthly", "chart-flow", "chart-categories")


def test_the_dashboard_draws_its_charts(live_server, transactional_db, browser, screenshot):
    get_user_model().objects.create_superuser(username="boss", password="boss-pass-123")
    rep = RepFactory(name="张三")
    product = ProductFactory(name="虾仁 500g")
    customer = CustomerFactory(rep=rep)
    now = timezone.now()
    for days_ago, total in ((1, "120.00"), (3, "80.00"), (8, "45.50")):
        order(customer, total=total, paid_at=now - timedelta(days=days_ago), rep=rep, lines=[(product, total)])

    violations, errors = [], []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    watch_csp(context, violations)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(live_server.url + "/admin/login/?next=/admin/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "boss-pass-123")
        page.click("input[type=submit]")
        page.get_by_test_id("company-dashboard-link").click()
        expect(page.get_by_test_id("company-dashboard")).to_be_visible()
        expect(page.get_by_test_id("total-gmv")).to_have_text("¥245.50")
        for canvas in CHARTS:
            expect(page.locator(f"canvas#{canvas}")).to_be_attached()
        page.wait_for_function("(ids) => window.Chart && ids.every((id) => Chart.getChart(id))", arg=list(CHARTS))
        # Drawn, not just created: the daily chart's canvas has a size and its GMV line has points.
        drawn = page.evaluate("() => { const c = Chart.getChart('chart-daily'); return [c.width > 0, c.data.datasets[1].data.filter(Boolean).length]; }")
        assert drawn == [True, 3]
        screenshot(page, "company-dashboard")
    finally:
        context.close()
    assert errors == []
    assert violations == []
