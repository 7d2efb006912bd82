"""Issuing (one customer, a pasted list of phones; the per-customer limit; refusals change
nothing), the admin's issue page, and 我的优惠券 (usable / used / expired) with bounded queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.errors import ApplicationError
from coupons.models import Coupon, CouponIssue, CouponRedemption
from coupons.services import coupons_issue, customers_from_phones
from tests.factories import CustomerFactory
from tests.orders.test_checkout_lines import checkout, client_for, line

from .conftest import give, template

pytestmark = pytest.mark.django_db


def test_a_list_of_phones_however_typed_finds_its_customers():
    a, b = CustomerFactory(phone="13800000001"), CustomerFactory(phone="13800000002")
    assert customers_from_phones("+86 138-0000-0001\n１３８００００００02，13800000001") == sorted([a.pk, b.pk])


def test_an_unknown_phone_refuses_the_whole_list_and_names_it():
    CustomerFactory(phone="13800000001")
    with pytest.raises(ApplicationError) as refused:
        customers_from_phones("13800000001\n13900000000")
    assert refused.value.code == "customers_not_found" and "13900000000" in refused.value.message


def test_the_per_customer_limit_skips_those_who_hold_enough():
    row = template(per_customer_limit=2)
    a, b = CustomerFactory(), CustomerFactory()
    coupons_issue(template_id=row.pk, customer_ids=[a.pk], audience="a")
    coupons_issue(template_id=row.pk, customer_ids=[a.pk], audience="a")
    issue = coupons_issue(template_id=row.pk, customer_ids=[a.pk, b.pk, b.pk], audience="list")
    assert (issue.issued_count, issue.skipped_count) == (1, 1)
    assert Coupon.objects.filter(customer=a).count() == 2 and Coupon.objects.filter(customer=b).count() == 1


def test_an_expired_or_switched_off_template_is_not_issued():
    customer = CustomerFactory()
    for row in (template(valid_from=timezone.localdate() - timedelta(days=5),
                         valid_to=timezone.localdate() - timedelta(days=1)), template(is_active=False)):
        with pytest.raises(ApplicationError):
            coupons_issue(template_id=row.pk, customer_ids=[customer.pk], audience="x")
    assert Coupon.objects.count() == 0 and CouponIssue.objects.count() == 0


def test_admin_issues_to_a_customer_by_phone(client):
    customer = CustomerFactory(phone="13800000009")
    row = template()
    client.force_login(User.objects.create_superuser("coupon-admin"))
    url = f"/admin/coupons/coupontemplate/{row.pk}/issue/"
    assert client.get(url).status_code == 200
    refused = client.post(url, {"phones": "13900000000"})
    assert refused.status_code == 200 and "找不到这些手机号的客户" in refused.content.decode()
    assert Coupon.objects.count() == 0
    response = client.post(url, {"phones": "138 0000 0009"})
    assert response.status_code == 302
    assert Coupon.objects.get().customer == customer
    assert CouponIssue.objects.get().issued_by == "coupon-admin"


def test_admin_refuses_a_template_whose_terms_do_not_match_its_kind(client):
    client.force_login(User.objects.create_superuser("coupon-admin2"))
    today = timezone.localdate()
    response = client.post("/admin/coupons/coupontemplate/add/", {
        "name": "坏折扣", "kind": "percent", "percent_off": "10", "max_discount": "", "min_spend": "0",
        "valid_from": today.isoformat(), "valid_to": (today - timedelta(days=1)).isoformat(),
        "per_customer_limit": "1", "is_active": "on"})
    assert response.status_code == 200
    assert "折扣券须填写最多减多少" in response.content.decode() and "失效日期不能早于生效日期" in response.content.decode()


def test_the_wallet_sorts_coupons_into_usable_used_and_expired(buyer, rules, shrimp, django_assert_max_num_queries):
    customer = buyer.customer
    usable = give(customer, name="可用券")
    used = give(customer, name="已用券")
    expired = give(customer, name="过期券")
    type(expired.template).objects.filter(pk=expired.template_id).update(
        valid_from=timezone.localdate() - timedelta(days=9), valid_to=timezone.localdate() - timedelta(days=1))
    order_number = checkout(buyer, [line(shrimp, "3")], coupon_id=used.pk).json()["order"]["number"]
    for extra in range(5):
        give(customer, name=f"可用券{extra}")
    client = client_for(buyer)
    with django_assert_max_num_queries(6):  # visitor, coupons, held orders, categories; whatever the count
        body = client.get("/api/v1/coupons").json()
    assert usable.pk in [c["id"] for c in body["usable"]] and len(body["usable"]) == 6
    assert [(c["id"], c["used_order_number"]) for c in body["used"]] == [(used.pk, order_number)]
    assert [c["id"] for c in body["expired"]] == [expired.pk]
    assert body["usable"][0]["terms"] == "满 ¥100.00 减 ¥20.00"


def test_someone_elses_coupons_never_show(buyer):
    give(CustomerFactory())
    assert client_for(buyer).get("/api/v1/coupons").json() == {"usable": [], "used": [], "expired": []}


def test_a_visitor_without_a_restaurant_has_an_empty_wallet(db):
    from tests.factories import VisitorFactory

    assert client_for(VisitorFactory()).get("/api/v1/coupons").json()["usable"] == []


def test_a_discounted_order_releases_and_keeps_its_redemption_history(buyer, rules, shrimp):
    coupon = give(buyer.customer)
    order_id = checkout(buyer, [line(shrimp, "3")], coupon_id=coupon.pk).json()["order"]["id"]
    client_for(buyer).post(f"/api/v1/orders/{order_id}/cancel")
    body = client_for(buyer).get("/api/v1/coupons").json()
    assert [c["id"] for c in body["usable"]] == [coupon.pk]
    assert CouponRedemption.objects.get().amount == Decimal("20.00")


def test_the_demo_seeds_two_coupon_templates_once():
    from catalog.models import Category
    from demo.base import DemoPlan
    from demo.coupons import coupons_seed
    from tests.factories import RepFactory

    Category.objects.create(name="冻虾类")
    rep = RepFactory()
    CustomerFactory.create_batch(3, rep=rep)
    first = coupons_seed(DemoPlan())
    assert (first.created, first.existing) == (2, 0)
    assert Coupon.objects.count() == 6
    assert set(Coupon.objects.filter(template__kind="percent").values_list("template__categories__name",
                                                                           flat=True)) == {"冻虾类"}
    again = coupons_seed(DemoPlan())
    assert (again.created, again.existing) == (0, 2) and Coupon.objects.count() == 6


def test_admin_issues_to_a_segment_evaluated_when_issued(client):
    """The segment's customers now (its live count), one coupon each; a list or a segment, not both."""
    from crm.models import Segment
    from crm.segments import segment_count
    from tests.factories import RepFactory

    rep, other = RepFactory(), RepFactory()
    mine = CustomerFactory.create_batch(3, rep=rep)
    CustomerFactory.create_batch(2, rep=other)
    segment = Segment.objects.create(name="李的客户")
    segment.reps.set([rep])
    row = template()
    client.force_login(User.objects.create_superuser("coupon-admin3"))
    url = f"/admin/coupons/coupontemplate/{row.pk}/issue/"
    both = client.post(url, {"segment": segment.pk, "phones": mine[0].phone})
    assert both.status_code == 200 and "二选一" in both.content.decode() and Coupon.objects.count() == 0

    late = CustomerFactory(rep=rep)  # joins the segment after it was saved: still counted when issuing
    response = client.post(url, {"segment": segment.pk})
    assert response.status_code == 302
    assert sorted(Coupon.objects.values_list("customer_id", flat=True)) == sorted([c.pk for c in mine] + [late.pk])
    assert Coupon.objects.count() == segment_count(segment) == 4
    assert CouponIssue.objects.get().audience == "分群「李的客户」4 位客户"
