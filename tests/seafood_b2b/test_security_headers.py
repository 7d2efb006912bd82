"""The Content-Security-Policy on every kind of page, and /wechat-dev/ only with the dev backend."""

import importlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import NoReverseMatch, clear_url_caches, reverse

from logistics.roles import WAREHOUSE_GROUP
from tests.factories import RepFactory

from core.csp import tile_source

User = get_user_model()
PASSWORD = "a-long-test-password"


def _policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def _assert_strict_base(policy):
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "*" not in " ".join(policy["script-src"])


@pytest.fixture
def rep_client(db):
    RepFactory(user=User.objects.create_user(username="rep-csp", password=PASSWORD))
    client = Client()
    client.login(username="rep-csp", password=PASSWORD)
    return client


@pytest.fixture
def clerk_client(db):
    user = User.objects.create_user(username="clerk-csp", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=WAREHOUSE_GROUP)[0])
    client = Client()
    client.login(username="clerk-csp", password=PASSWORD)
    return client


@pytest.mark.parametrize("path", ["/shop/", "/shop/cart/", "/shop/checkout/", "/shop/orders/"])
def test_mini_site_pages_have_a_csp_with_eval_for_alpine(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = _policy(response)
    _assert_strict_base(policy)
    # The standard Alpine.js build compiles x-* expressions with Function(): 'unsafe-eval' here only.
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]


@pytest.mark.parametrize(
    "who, path",
    [("client", "/rep/login/"), ("rep_client", "/rep/"), ("rep_client", "/rep/nearby/"),
     ("client", "/ops/login/"), ("clerk_client", "/ops/receiving/"), ("clerk_client", "/ops/packing/")],
)
def test_rep_and_ops_pages_have_a_csp_with_eval_for_alpine(request, db, who, path):
    response = request.getfixturevalue(who).get(path)

    assert response.status_code == 200
    policy = _policy(response)
    _assert_strict_base(policy)
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/orders/order/", "/api/docs/"])
def test_admin_and_api_docs_have_a_csp_without_eval(client, admin_client, path):
    response = (client if path == "/admin/login/" else admin_client).get(path)

    assert response.status_code == 200
    policy = _policy(response)
    _assert_strict_base(policy)
    assert "'unsafe-eval'" not in policy["script-src"]


@pytest.mark.parametrize(
    "path", ["/admin/reps/rep/dashboard/", "/admin/customers/churnsnapshot/", "/admin/logistics/inventoryvaluesnapshot/"]
)
def test_admin_dashboards_inline_script_carries_the_header_nonce(admin_client, path):
    response = admin_client.get(path)

    assert response.status_code == 200
    header_nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", response.content.decode())
    assert inline == [f' nonce="{header_nonce}"']


def test_every_nonce_is_new(admin_client):
    first = admin_client.get("/admin/reps/rep/dashboard/").headers["Content-Security-Policy"]
    second = admin_client.get("/admin/reps/rep/dashboard/").headers["Content-Security-Policy"]

    assert re.search(r"'nonce-[^']+'", first).group(0) != re.search(r"'nonce-[^']+'", second).group(0)


def test_swagger_ui_needs_no_inline_script(client, db):
    response = client.get("/api/docs/")

    page = response.content.decode()
    assert "<script>" not in page
    assert re.search(r'<script src="/api/docs/\?script="', page)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_map_tiles_host_is_allowed_for_images(rep_client, settings):
    settings.MAP_TILE_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&x={x}&y={y}&z={z}"

    policy = _policy(rep_client.get("/rep/nearby/"))

    # WeCom's contact-me code images (WECOM_QR_IMAGE_HOSTS) are allowed everywhere, the tiles here.
    assert policy["img-src"] == ["'self'", "data:", "blob:", "https://wework.qpic.cn", "https://*.is.autonavi.com"]


@pytest.mark.parametrize(
    "url, source",
    [
        ("https://webrd01.is.autonavi.com/appmaptile?x={x}", "https://webrd01.is.autonavi.com"),
        ("https://rt{s}.map.gtimg.com/tile?z={z}", "https://*.map.gtimg.com"),
        ("http://127.0.0.1:8000/static/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8000"),
        ("/static/tiles/{z}.png", None),
        ("javascript:alert(1)", None),
    ],
)
def test_tile_source(url, source):
    assert tile_source(url) == source


# -- /wechat-dev/ ---------------------------------------------------------------------------------

@pytest.fixture
def urls_with_backend(settings):
    """Rebuild the URL conf as a process started with the given WECHAT_BACKEND would."""
    import seafood_b2b.urls

    def build(backend):
        settings.WECHAT_BACKEND = backend
        importlib.reload(seafood_b2b.urls)
        clear_url_caches()

    yield build
    settings.WECHAT_BACKEND = "dev"
    importlib.reload(seafood_b2b.urls)
    clear_url_caches()


DEV_ROUTES = ["/wechat-dev/login", "/wechat-dev/phone-code", "/wechat-dev/pay/confirm", "/wechat-dev/pay/wx123"]


def test_wechat_dev_routes_do_not_exist_with_the_real_backend(urls_with_backend, client, db):
    urls_with_backend("real")

    for path in DEV_ROUTES:
        assert client.post(path, {}, content_type="application/json").status_code == 404, path
        assert client.get(path).status_code == 404, path
    with pytest.raises(NoReverseMatch):
        reverse("wechat:dev-login")


def test_wechat_dev_routes_exist_with_the_dev_backend(urls_with_backend, client, db):
    urls_with_backend("dev")

    assert reverse("wechat:dev-login") == "/wechat-dev/login"
    assert client.post("/wechat-dev/login").status_code == 200


def test_the_mini_site_tells_its_script_whether_wechat_is_played_here(urls_with_backend, client, db, settings):
    urls_with_backend("real")
    real = client.get("/shop/").content.decode()
    urls_with_backend("dev")
    dev = client.get("/shop/").content.decode()

    # wx.js calls /wechat-dev/ only under <html data-wechat-dev="1">; otherwise it answers
    # "请在微信中打开小程序" at once (the page is then a shell for the real mini program's API).
    assert '<html lang="zh-CN">' in real and "data-wechat-dev" not in real
    assert '<html lang="zh-CN" data-wechat-dev="1">' in dev
