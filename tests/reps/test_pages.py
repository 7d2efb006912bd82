"""The rep assistant's pages: who gets in, what the shells carry, and what they cost in queries.

The home page (/rep/) is one shell for every visitor; who gets in there is decided by the API it
calls (/api/v1/rep/me and the rest), tested here and in test_api.py."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.functional import empty
from PIL import Image

from orders.models import Order
from tests.factories import CustomerFactory, RepFactory, VisitorFactory

pytestmark = pytest.mark.django_db

PAGES = ["/rep/qr.png", "/rep/card/"]


def rep_with_login(name="张三", **kwargs):
    user = User.objects.create_user(username=f"rep-{name}", password="rep-pass-123")
    return RepFactory(name=name, user=user, **kwargs), user


@pytest.fixture
def rep_client(client):
    rep, user = rep_with_login(key="R7M4", territory="福田")
    client.force_login(user)
    client.rep = rep
    return client


def paid_order(customer, rep, total="188.00"):
    now = timezone.now()
    return Order.objects.create(
        number=f"2611{Order.objects.count():010d}", customer=customer, visitor=VisitorFactory(customer=customer),
        rep=rep, status=Order.Status.PAID, idempotency_key=f"k{Order.objects.count():08d}",
        delivery_date=timezone.localdate() + timedelta(days=1), subtotal=Decimal(total), total=Decimal(total),
        restaurant_name=customer.name, contact_name="王", phone=customer.phone, address="深圳市福田区 1 号",
        expires_at=now, paid_at=now,
    )


@pytest.mark.parametrize("url", PAGES + ["/rep/customers/1/"])
def test_anonymous_visitors_are_sent_to_the_rep_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/rep/login/?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_people_who_are_not_active_reps_get_403(client, url):
    clerk = User.objects.create_user(username="clerk", password="clerk-pass-1")
    client.force_login(clerk)
    refused = client.get(url)
    assert refused.status_code == 403
    assert "仅限在职业务员使用" in refused.content.decode()

    _, left = rep_with_login("已离职", is_active=False)
    client.force_login(left)
    assert client.get(url).status_code == 403


def test_assistant_shell_carries_the_scene_rows_and_takes_the_rep_from_the_api(rep_client):
    response = rep_client.get("/rep/")

    assert response.status_code == 200
    html = response.content.decode()
    kinds = [row.split('"')[0] for row in html.split('data-testid="scene-row" data-kind="')[1:]]
    assert kinds == ["in_person", "forwarded_image", "share_card", "direct", "other"]
    assert "当面扫码" in html and "长按识别图片" in html and "分享卡片" in html
    assert 'x-data="repAssistant(3)"' in html  # polls the feed every 3 s
    assert "<title>业务员助手 · 海鲜批发订货</title>" in html
    # Name, code, QR and share link are filled in from /api/v1/rep/me, not rendered.
    assert 'data-testid="rep-key" x-text="me ? me.rep.key : \'\'"></b>' in html
    assert '<img :src="me && me.qr_url"' in html
    assert "R7M4" not in html and "张三" not in html and "/shop/?scene=" not in html
    assert "data-feed-token" not in html
    # No CSRF token in the page: the logout form takes the cookie when it is sent.
    assert 'name="csrfmiddlewaretoken" value=""' in html
    assert "csrftoken" not in response.cookies


def test_assistant_shell_is_the_same_for_everyone_without_session_user_or_database(
        client, rep_client, admin_client, django_assert_num_queries):
    from reps.views import ASSISTANT_SHELL_MAX_AGE, assistant_shell

    clerk = User.objects.create_user(username="clerk", password="clerk-pass-1")
    left_rep, left = rep_with_login("已离职", is_active=False)
    visitors = [rep_client, admin_client, client]
    for user in (clerk, left):
        other = Client()
        other.force_login(user)
        visitors.append(other)
    rep_client.get("/rep/")  # the shell is rendered once per process; not counted below

    responses = []
    for visitor in visitors:
        with django_assert_num_queries(0):
            responses.append(visitor.get("/rep/"))

    shell = assistant_shell()
    for response in responses:
        assert response.status_code == 200
        assert response.content == shell.content
        assert response["ETag"] == shell.etag
        assert response["Cache-Control"] == f"private, max-age={ASSISTANT_SHELL_MAX_AGE}"
        assert "Cookie" not in response.get("Vary", "")  # the session was never looked at
        assert not response.cookies  # nor anything set: no session, no CSRF cookie
        request = response.wsgi_request
        assert request.session.accessed is False
        assert request.user._wrapped is empty  # the user was never loaded
    assert left_rep.name not in shell.content.decode()


def test_assistant_shell_revalidates_with_its_etag(client, django_assert_num_queries):
    first = client.get("/rep/")

    with django_assert_num_queries(0):
        again = client.get("/rep/", HTTP_IF_NONE_MATCH=first["ETag"])
    stale = client.get("/rep/", HTTP_IF_NONE_MATCH='"something-older"')

    assert again.status_code == 304 and again.content == b"" and again["ETag"] == first["ETag"]
    assert stale.status_code == 200 and stale.content == first.content
    assert client.post("/rep/").status_code == 405


def test_assistant_shell_follows_the_configured_company_name(client, settings):
    settings.COMPANY_NAME = "鲜达冻品"
    assert "<title>业务员助手 · 鲜达冻品</title>" in client.get("/rep/").content.decode()


def test_me_api_gives_the_rep_their_own_code_share_link_feed_token_and_csrf_cookie(rep_client, client):
    from reps.feed import FEED_TOKEN_MAX_AGE

    response = rep_client.get("/api/v1/rep/me")

    assert response.status_code == 200
    data = response.json()
    rep = rep_client.rep
    assert data["rep"] == {"id": rep.pk, "name": "张三", "key": "R7M4", "territory": "福田", "scene": "r=R7M4"}
    assert data["qr_url"] == "/rep/qr.png?key=R7M4"
    assert data["card_url"] == "/rep/card/"
    assert data["share_url"] == "http://testserver/shop/?scene=r%3DR7M4&launch_scene=1007"
    assert data["feed_token_max_age"] == FEED_TOKEN_MAX_AGE.total_seconds()
    assert response["Cache-Control"] == "private, no-store"
    assert response.cookies["csrftoken"].value  # the page's API writes (and the logout form) need it
    # The token opens this rep's feed, and the QR at that URL is this rep's.
    poll = client.get("/api/v1/rep/feed/poll", HTTP_X_FEED_TOKEN=data["feed_token"])
    assert poll.status_code == 200 and poll.json() == {"orders": [], "latest": None}
    assert rep_client.get(data["qr_url"])["Content-Type"] == "image/png"


def test_customer_page_opens_only_for_the_reps_own_customer(rep_client):
    mine = CustomerFactory(rep=rep_client.rep)
    theirs = CustomerFactory(rep=RepFactory())

    own = rep_client.get(f"/rep/customers/{mine.pk}/")
    other = rep_client.get(f"/rep/customers/{theirs.pk}/")
    missing = rep_client.get("/rep/customers/999999/")

    assert own.status_code == 200
    assert f'x-data="repCustomer({mine.pk}, ' in own.content.decode()
    assert other.status_code == 404 and "客户不存在或不归您负责" in other.content.decode()
    assert missing.status_code == 404


def test_qr_png_is_a_real_png(rep_client):
    response = rep_client.get("/rep/qr.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size[0] == image.size[1] and image.size[0] >= 200


def test_card_shows_name_company_qr_share_link_and_a_placeholder_photo(rep_client):
    html = rep_client.get("/rep/card/").content.decode()

    assert 'data-testid="card-name">张三<' in html
    assert 'data-testid="card-company">海鲜批发订货<' in html
    assert 'class="rep-card__qr" src="/rep/qr.png"' in html
    assert 'value="http://testserver/shop/?scene=r%3DR7M4&amp;launch_scene=1007"' in html
    assert 'data-testid="card-photo-placeholder">张<' in html
    assert "@page" not in html  # print rules live in rep.css, where the A6 size is set


def test_card_uses_the_reps_photo_and_the_configured_company_name(rep_client, settings):
    settings.COMPANY_NAME = "鲜达冻品"
    rep = rep_client.rep
    png = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(png, format="PNG")
    rep.photo = SimpleUploadedFile("zhang.png", png.getvalue(), content_type="image/png")
    rep.save()

    html = rep_client.get("/rep/card/").content.decode()

    assert f'src="{rep.photo.url}"' in html and 'data-testid="card-photo"' in html
    assert "card-photo-placeholder" not in html
    assert 'data-testid="card-company">鲜达冻品<' in html


def test_print_css_sets_an_a6_page():
    from django.contrib.staticfiles import finders

    css = open(finders.find("css/rep.css"), encoding="utf-8").read()
    assert "@page { size: 105mm 148mm; margin: 0; }" in css


def test_login_lets_a_rep_in_and_lands_on_the_assistant(client):
    rep_with_login("李四")
    page = client.get("/rep/login/")
    assert page.status_code == 200 and 'data-testid="login-form"' in page.content.decode()
    assert "海鲜批发订货 · 请使用公司分配的账号登录" in page.content.decode()

    response = client.post("/rep/login/", {"username": "rep-李四", "password": "rep-pass-123"})

    assert response.status_code == 302 and response["Location"] == "/rep/"
    assert client.get("/rep/").status_code == 200
    assert client.get("/api/v1/rep/me").json()["rep"]["name"] == "李四"
    assert client.get("/rep/login/")["Location"] == "/rep/"  # already in: straight to the assistant


def test_login_follows_next(client):
    rep, _ = rep_with_login("王五")
    customer = CustomerFactory(rep=rep)
    response = client.post("/rep/login/", {"username": "rep-王五", "password": "rep-pass-123",
                                           "next": f"/rep/customers/{customer.pk}/"})
    assert response["Location"] == f"/rep/customers/{customer.pk}/"


@pytest.mark.parametrize("who", ["clerk", "left", "wrong_password"])
def test_login_refuses_non_reps_and_wrong_passwords(client, who):
    User.objects.create_user(username="clerk", password="clerk-pass-1")
    _, left_user = rep_with_login("赵六", is_active=False)
    rep_with_login("孙七")
    credentials = {
        "clerk": ("clerk", "clerk-pass-1", "此账号不是在职业务员"),
        "left": ("rep-赵六", "rep-pass-123", "此账号不是在职业务员"),
        "wrong_password": ("rep-孙七", "nope-nope-1", "账号或密码不正确"),
    }[who]

    response = client.post("/rep/login/", {"username": credentials[0], "password": credentials[1]})

    assert response.status_code == 200
    assert credentials[2] in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_admin_signed_in_can_still_switch_to_a_reps_account(admin_client):
    refused = admin_client.get("/api/v1/rep/me")  # the shell's first call: its JS goes to the login
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_a_rep"
    assert admin_client.get("/rep/login/").status_code == 200  # the form, not a redirect loop


def test_logout_is_a_post_and_ends_the_session(rep_client):
    assert rep_client.get("/api/v1/rep/me").status_code == 200
    response = rep_client.post("/rep/logout/")
    assert response.status_code == 302 and response["Location"] == "/rep/login/"
    assert rep_client.get("/api/v1/rep/me").status_code == 401  # the shell's JS then goes to the login


def test_logout_form_of_the_shell_is_accepted_with_the_cookies_token():
    """The shell has no token of its own: its form posts the csrftoken cookie's value (rep.js)."""
    _, user = rep_with_login("周八")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.post("/rep/logout/").status_code == 403  # without a token: refused
    token = browser.get("/api/v1/rep/me").cookies["csrftoken"].value

    response = browser.post("/rep/logout/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 302 and response["Location"] == "/rep/login/"
    assert browser.get("/api/v1/rep/me").status_code == 401


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/api/v1/rep/me", "/rep/card/", "/rep/qr.png", "customer"])
def test_pages_run_a_fixed_small_number_of_queries(rep_client, url):
    rep = rep_client.rep
    first = CustomerFactory(rep=rep)
    paid_order(first, rep)
    target = f"/rep/customers/{first.pk}/" if url == "customer" else url
    few = _queries(rep_client, target)

    for _ in range(40):
        paid_order(CustomerFactory(rep=rep), rep)
    many = _queries(rep_client, target)

    assert many == few
    assert many <= 4  # session, user with the rep (+ the ownership check on the customer page)
