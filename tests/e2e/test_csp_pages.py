"""The pages the journeys do not walk through, in a real browser under the Content-Security-Policy:
the admin's chart pages (their inline script runs with the nonce), the API docs (Swagger UI from a
file, no inline script) and a batch's trace page. The journeys' new_phone fixture covers the
mini-site, the rep assistant and the ops pages."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from .conftest import watch_csp

pytestmark = pytest.mark.e2e
User = get_user_model()


@pytest.fixture
def desktop(browser):
    violations = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    watch_csp(context, violations)
    yield context, violations
    context.close()


def test_admin_charts_and_api_docs_work_under_the_csp(live_server, transactional_db, desktop):
    context, violations = desktop
    User.objects.create_superuser(username="boss", password="boss-pass-123")
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/?next=/admin/reps/rep/dashboard/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-pass-123")
    page.click("input[type=submit]")

    expect(page.get_by_test_id("rep-dashboard")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-entries') && Chart.getChart('chart-sales')")
    page.goto(live_server.url + "/admin/logistics/inventoryvaluesnapshot/")
    page.wait_for_function("() => window.Chart && Chart.getChart('turnover-chart')")
    page.goto(live_server.url + "/admin/customers/churnsnapshot/")
    expect(page.get_by_test_id("churn-chart")).to_be_attached()
    page.goto(live_server.url + "/admin/catalog/product/add/")
    expect(page.locator("#content h1")).to_be_visible()

    page.goto(live_server.url + "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("海鲜批发订货 API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()

    assert violations == []
