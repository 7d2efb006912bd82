"""Headless Chromium for the end-to-end journeys (Debian's browser, never `playwright install`).

Without /usr/bin/chromium the e2e tests are skipped, unless REQUIRE_BROWSER=1 (CI), where a
missing browser is a failure rather than a silent skip.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {
    "viewport": {"width": 375, "height": 667},
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium fonts-wqy-microhei)"
    elif sync_playwright is None:
        problem = "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if problem:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(problem + " (REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(problem)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def watch_csp(context, violations: list[str]):
    """Collect what the Content-Security-Policy blocked in this context (Chromium reports each
    blocked script, eval, style or image on the console)."""
    def on_console(message):
        if "Content Security Policy" in message.text:
            violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    context.on("console", on_console)


@pytest.fixture
def new_phone(browser):
    """Open a phone: a fresh browser context is a different handset with its own WeChat user.
    Every journey also proves the CSP blocks nothing the pages need."""
    contexts = []
    violations = []

    def open_phone(**options):
        context = browser.new_context(**PHONE, **options)
        context.set_default_timeout(10_000)
        watch_csp(context, violations)
        contexts.append(context)
        return context

    yield open_phone
    for context in contexts:
        try:
            context.close()
        except Exception:  # already closed by the test
            pass
    assert violations == [], "the Content-Security-Policy blocked:\n" + "\n".join(violations)


@pytest.fixture
def screenshot(request):
    """screenshot(page, "step") saves test-artifacts/<test name>-<n>-<step>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    counter = iter(range(1, 100))

    def take(page, step: str):
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{next(counter):02d}-{step}.png"))

    return take


def as_wechat_user(context, base: str, openid: str) -> None:
    """Make a phone (browser context) the WeChat user `openid`: the dev backend's signed device cookie."""
    from django.core import signing

    from wechat.views import DEVICE_COOKIE, DEVICE_COOKIE_SALT

    value = signing.get_cookie_signer(salt=DEVICE_COOKIE + DEVICE_COOKIE_SALT).sign(openid)
    context.add_cookies([{"name": DEVICE_COOKIE, "url": base, "value": value}])


def allow_subscriptions(page, *, keep: bool = False, titles: tuple[str, ...] = ()):
    """Answer the dev WeChat's "发送以下消息" sheet (wx.requestSubscribeMessage) with 允许; `keep`
    ticks "总是保持以上选择，不再询问", so later asks in this browser answer without the sheet."""
    from playwright.sync_api import expect

    sheet = page.get_by_test_id("subscribe-sheet")
    expect(sheet).to_be_visible()
    for title in titles:
        expect(sheet.get_by_test_id("subscribe-options")).to_contain_text(title)
    if keep:
        sheet.get_by_test_id("subscribe-keep").check()
    sheet.get_by_test_id("subscribe-allow").click()
    expect(sheet).to_be_hidden()
