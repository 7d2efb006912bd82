"""With WECHAT_BACKEND=real the browser is not a phone: /wechat-dev/ does not exist and the
mini-site's wx.js does not call it, it says to open the mini program in WeChat."""

import importlib

import pytest
from django.urls import clear_url_caches
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def real_backend(settings):
    import seafood_b2b.urls

    settings.WECHAT_BACKEND = "real"
    importlib.reload(seafood_b2b.urls)
    clear_url_caches()
    yield
    settings.WECHAT_BACKEND = "dev"
    importlib.reload(seafood_b2b.urls)
    clear_url_caches()


def test_the_shop_asks_for_wechat_and_never_calls_the_dev_routes(live_server, transactional_db, real_backend,
                                                                  new_phone):
    page = new_phone().new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(live_server.url + "/shop/")

    expect(page.get_by_test_id("toptips")).to_contain_text("请在微信中打开小程序")
    assert not [url for url in requested if "/wechat-dev/" in url]
    assert page.evaluate("() => fetch('/wechat-dev/login', {method: 'POST'}).then((r) => r.status)") == 404
