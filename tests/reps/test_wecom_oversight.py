"""Oversight with WeCom: the per-rep-per-day dashboard counts WeCom contacts added and removed, and
flags customers who came in through a forwarded code image or a share card without ever being that
rep's WeCom contact; set-based, so the page's queries do not grow with reps or customers. And the
rep's own list of WeCom contacts (/api/v1/rep/wecom-contacts)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reps.models import WeComContact, WeComContactEvent
from tests.factories import CustomerFactory, RepFactory, VisitorFactory
from tests.reps.test_admin import DASHBOARD, WEEK, cells, enter

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day, hour=10):
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=SHANGHAI)


def wecom_event(rep, change_type, when, external):
    WeComContactEvent.objects.create(dedupe_key=f"{rep.pk}:{external}:{change_type}:{when.timestamp()}",
                                     change_type=change_type, external_userid=external, event_time=when, rep=rep)


def customer_entered(rep, launch_scene, name):
    """A restaurant whose first entry (credited to `rep`) came with `launch_scene`."""
    visitor = VisitorFactory()
    with time_machine.travel(at(18), tick=False):
        enter(rep, launch_scene, visitor)
    customer = CustomerFactory(name=name, rep=rep)
    visitor.customer = customer
    visitor.save()
    return customer


def test_dashboard_counts_wecom_adds_and_removals_per_rep_and_day(admin_client):
    with time_machine.travel(at(1), tick=False):
        zhang, li = RepFactory(name="张三"), RepFactory(name="李四")
    for n in range(3):
        wecom_event(zhang, "add_external_contact", at(18), f"wmA{n}")
    wecom_event(zhang, "del_follow_user", at(18, 15), "wmA0")
    wecom_event(zhang, "del_external_contact", at(19), "wmA1")
    wecom_event(li, "add_external_contact", at(17), "wmB0")
    wecom_event(li, "transfer_fail", at(17), "wmB0")  # neither
    wecom_event(li, "add_external_contact", at(25), "wmB1")  # outside the week

    html = admin_client.get(DASHBOARD, WEEK).content.decode()

    assert {k: v for k, v in cells(html, "rep-row", "data-rep", zhang.pk).items() if k.startswith("wecom")} == {
        "wecom_added": "3", "wecom_removed": "2"}
    assert cells(html, "rep-row", "data-rep", li.pk)["wecom_added"] == "1"
    assert cells(html, "day-row", "data-day", "2026-11-18")["wecom_added"] == "3"
    assert cells(html, "day-row", "data-day", "2026-11-18")["wecom_removed"] == "1"
    assert 'data-testid="total-wecom-added">4<' in html


def test_customers_sent_a_code_without_a_wecom_contact_are_flagged(admin_client):
    with time_machine.travel(at(1), tick=False):
        zhang, li = RepFactory(name="张三"), RepFactory(name="李四")
    forwarded = customer_entered(zhang, 1048, "只发了图片")
    album = customer_entered(zhang, 1049, "相册识别")
    shared = customer_entered(zhang, 1008, "群里分享")
    added = customer_entered(zhang, 1007, "加了企微")
    visited = customer_entered(zhang, 1047, "当面扫码")
    elsewhere = customer_entered(li, 1048, "李四发的图")
    WeComContact.objects.create(rep=zhang, external_userid="wmOK", added_at=at(18), customer=added)
    # A WeCom contact of another rep does not count for 李四's customer.
    WeComContact.objects.create(rep=zhang, external_userid="wmOTHER", added_at=at(18), customer=elsewhere)

    response = admin_client.get(DASHBOARD, WEEK)

    flags = {row["rep"]: row for row in response.context["flag_rows"]}
    assert sorted(item["customer"] for item in flags[zhang]["sent_without_wecom"]) == sorted(
        [forwarded.name, album.name, shared.name])
    assert [item["customer_id"] for item in flags[li]["sent_without_wecom"]] == [elsewhere.pk]
    html = response.content.decode()
    assert f'data-testid="sent-without-wecom" data-customer="{forwarded.pk}"' in html
    assert f'data-customer="{visited.pk}"' not in html and f'data-customer="{added.pk}"' not in html


def _dashboard_queries(admin_client, reps_count):
    with time_machine.travel(at(1), tick=False):
        reps = [RepFactory() for _ in range(reps_count)]
    for i, rep in enumerate(reps):
        customer_entered(rep, 1048, f"餐厅{rep.pk}")
        wecom_event(rep, "add_external_contact", at(18), f"wm{i}")
        wecom_event(rep, "del_follow_user", at(19), f"wm{i}")
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(DASHBOARD, WEEK).status_code == 200
    return len(queries)


def test_dashboard_queries_do_not_grow_with_wecom_rows(admin_client):
    few = _dashboard_queries(admin_client, 3)
    many = _dashboard_queries(admin_client, 30)
    assert many == few


# -- the rep's own list ----------------------------------------------------------------------------------


@pytest.fixture
def rep_client(client):
    user = User.objects.create_user(username="rep-zhang", password="rep12345")
    rep = RepFactory(name="张三", user=user)
    client.force_login(user)
    client.rep = rep
    return client


def test_rep_sees_only_their_own_wecom_contacts_with_their_restaurants(rep_client):
    rep, other = rep_client.rep, RepFactory()
    restaurant = CustomerFactory(name="湘味小馆", rep=rep)
    WeComContact.objects.create(rep=rep, external_userid="wm1", name="王老板", added_at=at(18), customer=restaurant)
    WeComContact.objects.create(rep=rep, external_userid="wm2", name="李老板", added_at=at(19),
                                status=WeComContact.Status.REMOVED_BY_CUSTOMER, removed_at=at(20))
    WeComContact.objects.create(rep=other, external_userid="wm3", name="别人的", added_at=at(19))

    data = rep_client.get("/api/v1/rep/wecom-contacts").json()

    assert data["active"] == 1
    assert [(c["name"], c["status"], c["customer_name"]) for c in data["contacts"]] == [
        ("李老板", "removed_by_customer", None), ("王老板", "active", "湘味小馆")]
    assert data["contacts"][1]["customer_id"] == restaurant.pk


@pytest.mark.parametrize("n", [3, 60])
def test_wecom_contacts_api_query_count_is_constant(rep_client, n, django_assert_max_num_queries):
    for i in range(n):
        WeComContact.objects.create(rep=rep_client.rep, external_userid=f"wm{i}", added_at=at(18),
                                    customer=CustomerFactory(rep=rep_client.rep))
    with django_assert_max_num_queries(4):  # session, user with rep, contacts with restaurants, active count
        assert len(rep_client.get("/api/v1/rep/wecom-contacts").json()["contacts"]) == n
