"""Segments: AND between tag groups, OR within one; each filter; count equals the ids; the admin's
live count before saving."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.autotags import auto_tags_recompute
from crm.models import AutoTagSettings, CustomerTag, Segment, Tag, TagGroup
from crm.segments import SegmentFilters, segment_count, segment_customer_ids, segment_filters
from customers.models import Customer
from orders.models import Order
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, RepFactory, SubCategoryFactory

from .helpers import paid_order

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def tagged():
    """Six restaurants tagged by business (火锅/烧烤/奶茶) and size (大/小)."""
    business = TagGroup.objects.create(name="业态")
    size = TagGroup.objects.create(name="规模")
    t = {name: Tag.objects.create(group=business, name=name) for name in ("火锅", "烧烤", "奶茶")}
    t.update({name: Tag.objects.create(group=size, name=name) for name in ("大", "小")})
    people = {}
    for name, labels in {"a": ["火锅", "大"], "b": ["烧烤", "大"], "c": ["奶茶", "大"], "d": ["火锅", "小"],
                         "e": ["火锅"], "f": []}.items():
        people[name] = CustomerFactory(name=name)
        for label in labels:
            CustomerTag.objects.create(customer=people[name], tag=t[label])
    return t, people


def names(filters):
    ids = list(segment_customer_ids(filters))
    assert segment_count(filters) == len(ids) == len(set(ids))
    return set(Customer.objects.filter(pk__in=ids).values_list("name", flat=True))


def by_tags(*tags):
    groups = {}
    for tag in tags:
        groups.setdefault(tag.group_id, []).append(tag.pk)
    return SegmentFilters(tag_ids_by_group={g: tuple(ids) for g, ids in groups.items()})


def test_or_within_a_group_and_between_groups(tagged):
    t, _ = tagged
    assert names(by_tags(t["火锅"])) == {"a", "d", "e"}
    assert names(by_tags(t["火锅"], t["烧烤"])) == {"a", "b", "d", "e"}  # OR in 业态
    assert names(by_tags(t["火锅"], t["大"])) == {"a"}  # AND across groups
    assert names(by_tags(t["火锅"], t["烧烤"], t["大"])) == {"a", "b"}
    assert names(by_tags(t["大"], t["小"])) == {"a", "b", "c", "d"}
    assert names(by_tags(t["奶茶"], t["小"])) == set()
    assert names(SegmentFilters()) == {"a", "b", "c", "d", "e", "f"}


def test_a_saved_segment_is_evaluated_when_used(tagged):
    t, people = tagged
    segment = Segment.objects.create(name="火锅大店")
    segment.tags.set([t["火锅"], t["大"]])
    assert names(segment) == {"a"}
    CustomerTag.objects.create(customer=people["e"], tag=t["大"])  # e grows: now in
    assert names(segment) == {"a", "e"}
    assert segment_filters(segment).tag_ids_by_group == {t["火锅"].group_id: (t["火锅"].pk,),
                                                         t["大"].group_id: (t["大"].pk,)}


def test_rep_district_status_and_last_order_filters():
    rep, other = RepFactory(), RepFactory()
    now = timezone.now()
    today = timezone.localdate(now)
    CustomerFactory(name="a", rep=rep, district="福田", status="churned", last_order_at=now - timedelta(days=40))
    CustomerFactory(name="b", rep=rep, district="南山", status="active", last_order_at=now - timedelta(days=2))
    CustomerFactory(name="c", rep=other, district="福田", status="at_risk", last_order_at=now - timedelta(days=10))
    CustomerFactory(name="d", rep=None, district="罗湖")
    assert names(SegmentFilters(rep_ids=(rep.pk,))) == {"a", "b"}
    assert names(SegmentFilters(districts=("福田", "罗湖"))) == {"a", "c", "d"}
    assert names(SegmentFilters(churn_statuses=("churned", "at_risk"))) == {"a", "c"}
    assert names(SegmentFilters(rep_ids=(rep.pk,), districts=("福田",))) == {"a"}
    assert names(SegmentFilters(last_order_from=today - timedelta(days=10))) == {"b", "c"}
    assert names(SegmentFilters(last_order_to=today - timedelta(days=10))) == {"a", "c"}
    assert names(SegmentFilters(last_order_from=today - timedelta(days=2), last_order_to=today - timedelta(days=2))) \
        == {"b"}


def test_distance_from_a_point():
    # Around Futian (22.54, 114.06): 1 km is ~0.009 degrees of latitude.
    CustomerFactory(name="near", latitude=D("22.545000"), longitude=D("114.060000"))  # ~0.56 km
    CustomerFactory(name="edge", latitude=D("22.556000"), longitude=D("114.060000"))  # ~1.78 km
    CustomerFactory(name="far", latitude=D("22.640000"), longitude=D("114.060000"))  # ~11 km
    CustomerFactory(name="nowhere")
    assert names(SegmentFilters(near=(22.54, 114.06, 1.0))) == {"near"}
    assert names(SegmentFilters(near=(22.54, 114.06, 2.0))) == {"near", "edge"}
    assert names(SegmentFilters(near=(22.54, 114.06, 12.0))) == {"near", "edge", "far"}


def test_spend_range_and_bought_category_from_last_nights_summary():
    shrimp = CategoryFactory(name="冻虾类")
    shelf = SubCategoryFactory(parent=shrimp)
    fish = SubCategoryFactory()
    prawn, cod = ProductFactory(category=shelf), ProductFactory(category=fish)
    a, b, c, d = (CustomerFactory(name=n) for n in "abcd")
    paid_order(a, [(prawn, "300")], days_ago=5)
    paid_order(b, [(cod, "100")], days_ago=5)
    paid_order(b, [(prawn, "900")], days_ago=120)  # outside 90 days
    paid_order(c, [(prawn, "50")], days_ago=5, status=Order.Status.CANCELLED)  # not counted
    paid_order(d, [(cod, "1000")], days_ago=1, paid=False)  # unpaid: not counted
    auto_tags_recompute()  # the nightly run writes the spend summary the filters read
    assert names(SegmentFilters(spend_min=D("100"))) == {"a", "b"}
    assert names(SegmentFilters(spend_min=D("100.01"))) == {"a"}
    assert names(SegmentFilters(spend_max=D("100"))) == {"b", "c", "d"}  # nothing spent counts as 0
    assert names(SegmentFilters(spend_min=D("100"), spend_max=D("299.99"))) == {"b"}
    assert names(SegmentFilters(category_id=shrimp.pk)) == {"a"}
    assert names(SegmentFilters(category_id=shrimp.pk, category_bought=False)) == {"b", "c", "d"}
    assert names(SegmentFilters(category_id=shelf.pk)) == {"a"}
    assert names(SegmentFilters(category_id=fish.pk, spend_min=D("1"))) == {"b"}
    # The window is the automatic tags' (AutoTagSettings): 200 days takes in b's old shrimp.
    AutoTagSettings.objects.filter(pk=1).update(category_window_days=200)
    auto_tags_recompute()
    assert names(SegmentFilters(spend_min=D("500"))) == {"b"}
    assert names(SegmentFilters(category_id=shrimp.pk)) == {"a", "b"}


def test_count_and_ids_need_a_bounded_number_of_queries(tagged, django_assert_max_num_queries):
    t, _ = tagged
    segment = Segment.objects.create(name="大店", spend_min=D("1"), category=CategoryFactory())
    segment.tags.set([t["大"], t["火锅"], t["烧烤"]])
    segment.reps.set([RepFactory()])
    with django_assert_max_num_queries(3):  # tags, reps, COUNT
        segment_count(segment)


def test_the_admin_counts_before_saving_and_shows_the_funnel(tagged, admin_client):
    t, _ = tagged
    url = reverse("admin:crm_segment_count")
    body = {"name": "火锅", "tags": [str(t["火锅"].pk)],
            "category_mode": "bought"}
    response = admin_client.post(url, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"total": 6, "count": 3, "text": "6 位客户 → 3 位火锅"}
    assert not Segment.objects.exists()

    bad = admin_client.post(url, {**body, "spend_min": "500", "spend_max": "10"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"code", "message", "details"}
    assert admin_client.get(url).status_code == 405

    segment = Segment.objects.create(name="火锅店")
    segment.tags.set([t["火锅"]])
    page = admin_client.get(reverse("admin:crm_segment_change", args=[segment.pk]))
    assert "6 位客户 → 3 位火锅店" in page.content.decode()
    assert "js/admin_segment_count.js" in page.content.decode()


def test_a_segment_is_built_and_saved_in_admin(tagged, admin_client):
    t, _ = tagged
    response = admin_client.post(reverse("admin:crm_segment_add"), {
        "name": "大店", "tags": [str(t["大"].pk)], "churn_statuses": ["active", "at_risk"], "districts": "福田 南山",
        "category_mode": "bought"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    segment = Segment.objects.get()
    assert segment.churn_statuses == "active,at_risk"
    assert segment.created_by.username == "admin"
    assert segment_filters(segment).districts == ("福田", "南山")
