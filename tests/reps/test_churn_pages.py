"""The rep's side of churn: the inbox and the way to the nearby list on the home page, the
customer page opened from an alert, and the nearby page with and without map tiles."""

import json
import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from customers.churn import churn_sweep, customer_record_payment
from customers.models import Customer
from orders.models import Order
from tests.factories import CustomerFactory, RepFactory, VisitorFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 24, 2, 0, tzinfo=SHANGHAI)
HERE = (Decimal("22.543100"), Decimal("114.057900"))


def rep_with_login(name="张三", **kwargs):
    user = User.objects.create_user(username=f"rep-{name}", password="rep-pass-123")
    return RepFactory(name=name, user=user, **kwargs), user


@pytest.fixture
def rep_client(client):
    rep, user = rep_with_login(key="R7M4")
    client.force_login(user)
    client.rep = rep
    return client


def lapsing(rep, status, n=1, **fields):
    return [CustomerFactory(rep=rep, status=status, latitude=HERE[0], longitude=HERE[1], **fields) for _ in range(n)]


def order_paid(customer, paid_at, number):
    return Order.objects.create(
        number=number, customer=customer, visitor=VisitorFactory(customer=customer), rep=customer.rep,
        status=Order.Status.COMPLETED, idempotency_key=f"k-{number}", delivery_date=paid_at.date(),
        subtotal=Decimal("150.00"), total=Decimal("150.00"), restaurant_name=customer.name, contact_name="王",
        phone=customer.phone, address="深圳市福田区 1 号", expires_at=paid_at, paid_at=paid_at)


# --- Who gets in ---------------------------------------------------------------------------

def test_nearby_page_sends_anonymous_visitors_to_the_rep_login(client):
    response = client.get("/rep/nearby/")
    assert response.status_code == 302
    assert response["Location"] == "/rep/login/?next=/rep/nearby/"


def test_nearby_page_refuses_people_who_are_not_active_reps(client):
    clerk = User.objects.create_user(username="clerk", password="clerk-pass-1")
    client.force_login(clerk)
    refused = client.get("/rep/nearby/")
    assert refused.status_code == 403 and "仅限在职业务员使用" in refused.content.decode()

    _, left = rep_with_login("已离职", is_active=False)
    client.force_login(left)
    assert client.get("/rep/nearby/").status_code == 403


def test_customer_page_from_an_alert_refuses_another_reps_customer(rep_client):
    theirs = CustomerFactory(rep=RepFactory(), status=Customer.Status.CHURNED)
    response = rep_client.get(f"/rep/customers/{theirs.pk}/?order={uuid.uuid4()}")
    assert response.status_code == 404 and "客户不存在或不归您负责" in response.content.decode()


# --- Home page ----------------------------------------------------------------------------

def test_home_links_to_nearby_with_the_count_of_my_lapsing_customers(rep_client):
    rep = rep_client.rep
    lapsing(rep, Customer.Status.CHURNED, 2)
    lapsing(rep, Customer.Status.AT_RISK, 1)
    CustomerFactory(rep=rep)  # active
    lapsing(RepFactory(), Customer.Status.CHURNED, 4)  # another rep's

    html = rep_client.get("/rep/").content.decode()

    assert 'href="/rep/nearby/" class="rep-section rep-nearby-link" data-testid="nearby-link"' in html
    # The count is live, from the summary the page loads (the page is one shell for every rep).
    assert rep_client.get("/api/v1/rep/summary").json()["lapsing"] == 3
    # The inbox is the WeCom digest's target (/rep/#churn).
    assert 'id="churn" aria-labelledby="inbox-title" x-data="repInbox()" data-testid="inbox"' in html


def test_home_says_so_when_no_customer_is_lapsing(rep_client):
    CustomerFactory(rep=rep_client.rep)
    html = rep_client.get("/rep/").content.decode()
    assert '<span data-testid="lapsing-count-none" data-count="0">暂无流失或预警客户</span>' in html
    assert rep_client.get("/api/v1/rep/summary").json()["lapsing"] == 0


# --- Customer page opened from an alert -----------------------------------------------------

def test_alert_link_from_the_sweep_opens_the_customer_page_marking_the_last_order(rep_client):
    rep = rep_client.rep
    customer = CustomerFactory(rep=rep, name="湘味小馆")
    for days in (50, 45, 40):
        with transaction.atomic():
            customer_record_payment(customer_id=customer.pk, paid_at=NIGHT - timedelta(days=days))
    order_paid(customer, NIGHT - timedelta(days=45), "26100900000001")
    last = order_paid(customer, NIGHT - timedelta(days=40), "26101500000001")
    churn_sweep(now=NIGHT)

    messages = rep_client.get("/api/v1/rep/inbox").json()["messages"]
    assert [(m["title"], m["link"]) for m in messages] == [
        ("已流失：湘味小馆", f"/rep/customers/{customer.pk}/?order={last.pk}")]
    html = rep_client.get(messages[0]["link"]).content.decode()

    assert f"""x-data="repCustomer({customer.pk}, '张三', '{last.pk}')" """ in html
    assert 'class="rep-status rep-status_churned" data-testid="customer-status">已流失<' in html
    detail = rep_client.get(f"/api/v1/rep/customers/{customer.pk}").json()
    assert str(last.pk) in {o["id"] for o in detail["orders"]}  # the id the page looks for


@pytest.mark.parametrize("order", ["", "not-a-uuid", "'); alert(1); ('"])
def test_customer_page_ignores_an_order_parameter_that_is_not_an_id(rep_client, order):
    customer = CustomerFactory(rep=rep_client.rep)
    html = rep_client.get(f"/rep/customers/{customer.pk}/", {"order": order}).content.decode()
    assert f"""x-data="repCustomer({customer.pk}, '张三', '')" """ in html
    assert "alert(1)" not in html


@pytest.mark.parametrize("status, badge", [("at_risk", "预警"), ("churned", "已流失"), ("active", None)])
def test_customer_page_shows_the_churn_status(rep_client, status, badge):
    customer = CustomerFactory(rep=rep_client.rep, status=status)
    html = rep_client.get(f"/rep/customers/{customer.pk}/").content.decode()
    if badge:
        assert f'class="rep-status rep-status_{status}" data-testid="customer-status">{badge}<' in html
    else:
        assert 'data-testid="customer-status"' not in html


# --- Nearby page --------------------------------------------------------------------------

def test_nearby_page_without_tiles_is_the_list_alone(rep_client, settings):
    settings.MAP_TILE_URL = ""
    response = rep_client.get("/rep/nearby/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'x-data="repNearby(3)" data-testid="nearby-page"' in html
    assert re.findall(r'data-testid="radius-(\d+)"', html) == ["1", "3", "5", "10"]
    assert 'data-testid="nearby-list"' in html
    # No map code, no tile configuration, no map tab: nothing that needs the network.
    assert "leaflet" not in html and "rep-map-config" not in html
    assert 'data-testid="view-map"' not in html and 'data-testid="map"' not in html
    assert response.cookies["csrftoken"].value


def test_nearby_page_with_tiles_configures_the_map(rep_client, settings):
    settings.MAP_TILE_URL = "https://tiles.example/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "© 地图 <b>GS(2024)</b>"

    html = rep_client.get("/rep/nearby/").content.decode()

    assert '<script defer src="/static/vendor/leaflet/leaflet.js"></script>' in html
    assert '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">' in html
    config = re.search(r'<script id="rep-map-config" type="application/json">(.*?)</script>', html).group(1)
    assert json.loads(config) == {"tileUrl": "https://tiles.example/{z}/{x}/{y}.png",
                                  "attribution": "© 地图 <b>GS(2024)</b>"}
    assert "<b>GS" not in config  # escaped inside the script tag
    assert 'data-testid="view-map"' in html and 'data-testid="map"' in html
    # Leaflet loads before the page's components, which load before Alpine.
    assert html.index("leaflet.js") < html.index("js/rep.js") < html.index("alpinejs/cdn.min.js")


def test_leaflet_is_served_from_node_modules():
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/leaflet/leaflet.js") and finders.find("vendor/leaflet/leaflet.css")


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/rep/", "/rep/nearby/", "customer"])
def test_churn_pages_run_a_fixed_small_number_of_queries(rep_client, url):
    rep = rep_client.rep
    first = lapsing(rep, Customer.Status.CHURNED)[0]
    target = f"/rep/customers/{first.pk}/?order={uuid.uuid4()}" if url == "customer" else url
    few = _queries(rep_client, target)

    lapsing(rep, Customer.Status.CHURNED, 30)
    lapsing(rep, Customer.Status.AT_RISK, 30)
    many = _queries(rep_client, target)

    assert many == few
    # The home page is the same shell for everyone: no query (its lapsing count comes from the
    # summary API). Nearby: session, user, rep; the customer page: + the customer's status.
    assert many <= {"/rep/": 0, "/rep/nearby/": 3}.get(url, 4)


def test_nearby_api_sorted_by_distance_and_bounded_in_queries(rep_client, django_assert_max_num_queries):
    rep = rep_client.rep
    lat, lng = HERE
    for i in range(40):
        CustomerFactory(rep=rep, status=Customer.Status.CHURNED, name=f"远{i}",
                        latitude=lat + Decimal("0.001") * (i + 1), longitude=lng)
    CustomerFactory(rep=rep, status=Customer.Status.AT_RISK, name="最近", latitude=lat, longitude=lng + Decimal("0.0005"))

    with django_assert_max_num_queries(4):  # session, user, rep, the customers
        rows = rep_client.get("/api/v1/rep/nearby", {"latitude": str(lat), "longitude": str(lng),
                                                     "radius_km": "10", "limit": "100"}).json()["customers"]

    assert [r["name"] for r in rows[:3]] == ["最近", "远0", "远1"]
    assert [r["distance_km"] for r in rows] == sorted(r["distance_km"] for r in rows)
    assert len(rows) == 41 and rows[0]["status"] == "at_risk"
