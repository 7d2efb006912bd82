"""reps.figures: the summary's counts, cached per rep, equal the counting statement (itself equal to
the rule, reps.selectors.rep_summary) after every kind of event, across the Shanghai day and week,
and follow the freshness rule (README "How fresh the rep's figures are")."""

import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from customers.churn import churn_sweep, customer_record_payment
from customers.models import Customer
from orders.models import Order, Refund
from reps import assistant_reads, figures, selectors
from reps.models import EntryEvent, Scene
from reps.services import customers_handover
from tests.factories import CustomerFactory, RepFactory, VisitorFactory

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _rep(name):
    return RepFactory(name=name, user=User.objects.create_user(username=f"rep-{name}", password="rep12345"))


def _cached(rep, now=None) -> bool:
    return figures.read(rep.pk, timezone.localdate(now or timezone.now()))[0] is not None


def _agree(rep, now=None) -> dict:
    """The cached read equals the counting statement and the rule, and the second read is a hit."""
    counted = assistant_reads.summary_figures(rep=rep, now=now)
    assert counted == selectors.rep_summary(rep=rep, now=now)
    first = assistant_reads.summary_figures(rep=rep, now=now, cached=True)
    assert _cached(rep, now)
    assert assistant_reads.summary_figures(rep=rep, now=now, cached=True) == first == counted
    _page_agrees(rep)
    count, _ = assistant_reads.customer_page(rep=rep, number=1, cached=True)
    assert count == counted["customers"]
    return counted


def _page_agrees(rep):
    """Page 1 of the customer list, cached (count and rows), equals the live statement and the
    rule (selectors.rep_customers through the DRF view's row), and the second read is a hit."""
    live = assistant_reads.customer_page(rep=rep, number=1)
    first = assistant_reads.first_page(rep.pk)
    assert figures.read(rep.pk, timezone.localdate(), "page1")[0] is not None
    assert assistant_reads.first_page(rep.pk) == first == (live[0], assistant_reads._dumps(live[1]))
    from reps.api import _customer_row

    rule = selectors.rep_customers(rep=rep)
    assert live == (rule.count(), [_customer_row(c) for c in rule[:assistant_reads.CUSTOMERS_PAGE_SIZE]])
    return live


def _order(customer, number, total="88.00", paid_at=None):
    visitor = VisitorFactory(customer=customer)
    paid_at = paid_at or timezone.now()
    return Order.objects.create(
        number=number, customer=customer, visitor=visitor, rep=customer.rep, status=Order.Status.PAID,
        idempotency_key=f"k{number}", delivery_date=timezone.localdate(), subtotal=Decimal(total),
        total=Decimal(total), restaurant_name=customer.name, contact_name="王", phone=customer.phone,
        address="深圳", expires_at=paid_at, paid_at=paid_at)


def test_the_cached_figures_equal_the_count_after_each_kind_of_event():
    rep, other = _rep("甲"), _rep("乙")
    kept = CustomerFactory.create_batch(3, rep=rep)
    base = _agree(rep)
    _agree(other)

    # A customer assigned (a registration, an admin's new customer).
    new = CustomerFactory(rep=rep, acquired_by=rep, acquired_at=timezone.now())
    after = _agree(rep)
    assert after["customers"] == base["customers"] + 1 and after["new_customers_week"] == base["new_customers_week"] + 1

    # A handover between reps (a set-based update: no signal): both reps' counts.
    before_other = _agree(other)["customers"]
    customers_handover(from_rep=rep, to_rep=other, customer_ids=[kept[0].pk])
    assert _agree(rep)["customers"] == after["customers"] - 1
    assert _agree(other)["customers"] == before_other + 1

    # A customer moved back by a save (admin): the previous rep's count too.
    moved = Customer.objects.get(pk=kept[0].pk)
    moved.rep = rep
    moved.save()
    assert _agree(rep)["customers"] == after["customers"]
    assert _agree(other)["customers"] == before_other

    # An entry recorded.
    visitor = VisitorFactory(customer=new)
    EntryEvent.objects.create(visitor=visitor, customer=new, rep=rep, scene_kind=Scene.IN_PERSON,
                              visit_kind="first_visit")
    assert _agree(rep)["entries_today"][Scene.IN_PERSON] == base["entries_today"][Scene.IN_PERSON] + 1

    # A paid order, then its refund in full (today's orders are read live, by orders.gmv's rule).
    order = _order(new, "2612070001")
    paid = _agree(rep)
    assert paid["orders_today"] == base["orders_today"] + 1 and paid["gmv_today"] == base["gmv_today"] + Decimal("88")
    Refund.objects.create(order=order, out_refund_no="2612070001R1", reason="测试", amount=Decimal("88.00"),
                          status=Refund.Status.SUCCEEDED)
    refunded = _agree(rep)
    assert refunded["orders_today"] == base["orders_today"] and refunded["gmv_today"] == base["gmv_today"]

    # An unpaid order, then paid (a save with paid_at, as the payment's transition), then a refund
    # that failed after all (GMV nets refunds not failed).
    later = _order(new, "2612070002", total="50.00")
    Order.objects.filter(pk=later.pk).update(paid_at=None, status=Order.Status.PENDING_PAYMENT)  # as created
    later = Order.objects.only("id", "status").get(pk=later.pk)
    assert _agree(rep)["orders_today"] == refunded["orders_today"]
    later.paid_at, later.status = timezone.now(), Order.Status.PAID
    later.save(update_fields=["paid_at", "status"])
    assert _agree(rep)["gmv_today"] == refunded["gmv_today"] + Decimal("50")
    failed = Refund.objects.create(order=later, out_refund_no="2612070002R1", reason="测试", amount=Decimal("20.00"),
                                   status=Refund.Status.PROCESSING)
    assert _agree(rep)["gmv_today"] == refunded["gmv_today"] + Decimal("30")
    failed = Refund.objects.get(pk=failed.pk)  # its order not at hand: every rep's figures
    failed.status = Refund.Status.FAILED
    failed.save(update_fields=["status"])
    assert _agree(rep)["gmv_today"] == refunded["gmv_today"] + Decimal("50")
    refunded = _agree(rep)

    # A customer lapsing (saved), then won back by a payment (customers.churn).
    lapsed = Customer.objects.get(pk=kept[1].pk)
    lapsed.status = Customer.Status.CHURNED
    lapsed.save()
    assert _agree(rep)["lapsing"] == base["lapsing"] + 1
    assert customer_record_payment(customer_id=lapsed.pk, paid_at=timezone.now())
    won = _agree(rep)
    assert won["lapsing"] == base["lapsing"] and won["won_back_month"] == base["won_back_month"] + 1

    # A customer's name and phone edited (admin: a save): the row on page 1.
    edited = Customer.objects.get(pk=kept[1].pk)
    edited.name, edited.phone = "改名海鲜", "13900000000"
    edited.save()
    assert any(row["name"] == "改名海鲜" and row["phone"] == "13900000000" for row in _page_agrees(rep)[1])

    # A handover keeps the customer's old orders under the old rep: a change to such an order
    # (refunded, its amount edited) moves the spend on the new rep's page 1.
    customers_handover(from_rep=rep, to_rep=other, customer_ids=[new.pk])
    _agree(other)
    Refund.objects.create(order=later, out_refund_no="2612070002R2", reason="测试", amount=Decimal("10.00"),
                          status=Refund.Status.SUCCEEDED)
    assert _agree(other) and next(r for r in _page_agrees(other)[1] if r["id"] == new.pk)["total_spend"] == "40.00"
    amended = Order.objects.get(pk=later.pk)
    amended.subtotal = amended.total = Decimal("70.00")
    amended.save(update_fields=["subtotal", "total"])
    assert next(r for r in _page_agrees(other)[1] if r["id"] == new.pk)["total_spend"] == "60.00"
    _agree(rep)

    # A customer deleted.
    Customer.objects.filter(pk=kept[2].pk).delete()
    assert _agree(rep)["customers"] == after["customers"] - 2  # one handed over above


def test_the_nightly_sweep_invalidates_every_rep():
    rep = _rep("丙")
    CustomerFactory(rep=rep)
    _agree(rep)
    churn_sweep()
    assert not _cached(rep)
    _agree(rep)


def test_the_cache_follows_the_shanghai_day_and_week():
    """Sunday 23:59 and Monday 00:00 in Shanghai: a new day and a new week with no event between."""
    rep = _rep("丁")
    customer = CustomerFactory(rep=rep)
    monday = datetime(2026, 12, 7, 0, 0, 30, tzinfo=SHANGHAI)
    sunday = monday - timedelta(minutes=1)
    entry = EntryEvent.objects.create(visitor=VisitorFactory(customer=customer), customer=customer, rep=rep,
                                      scene_kind=Scene.IN_PERSON, visit_kind="first_visit")
    EntryEvent.objects.filter(pk=entry.pk).update(created_at=sunday - timedelta(hours=1))  # Sunday 23:00
    on_sunday = _agree(rep, sunday)
    assert on_sunday["entries_today"][Scene.IN_PERSON] == on_sunday["entries_week"][Scene.IN_PERSON] == 1
    on_monday = _agree(rep, monday)
    assert on_monday["entries_today"][Scene.IN_PERSON] == on_monday["entries_week"][Scene.IN_PERSON] == 0


def test_a_count_taken_before_a_change_is_never_served_after_it():
    """The generation is read before counting; a change bumps it: what was counted under the old
    one is a miss from then on (a count racing a commit)."""
    rep = _rep("戊")
    day = timezone.localdate()
    assert figures.read(rep.pk, day)[0] is None
    _, generation = figures.read(rep.pk, day)
    counted = assistant_reads.summary_figures(rep=rep)
    CustomerFactory(rep=rep)  # committed while the count was on its way to the cache
    figures.store(rep.pk, day, generation, counted)
    assert figures.read(rep.pk, day)[0] is None
    _agree(rep)


def test_a_token_lost_from_redis_is_a_miss():
    rep = _rep("己")
    _agree(rep)
    from django.core.cache import cache

    cache.delete(f"reps:figures:gen:{rep.pk}")
    assert not _cached(rep)
    cache.delete("reps:figures:gen")
    _agree(rep)


def test_a_change_that_bypasses_the_events_shows_within_the_ttl(monkeypatch):
    """The freshness rule's bound: a raw SQL change is served stale until FIGURES_TTL, then counted."""
    monkeypatch.setattr(figures, "FIGURES_TTL", 1)
    rep = _rep("庚")
    customer = CustomerFactory(rep=rep)
    assert _agree(rep)["customers"] == 1
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET rep_id = NULL WHERE id = %s", [customer.pk])
    assert assistant_reads.summary_figures(rep=rep, cached=True)["customers"] == 1  # within the TTL
    assert assistant_reads.customer_page(rep=rep, number=1, cached=True)[0] == 1
    time.sleep(1.2)
    assert assistant_reads.summary_figures(rep=rep, cached=True)["customers"] == 0
    assert _agree(rep)["customers"] == 0


def test_the_api_serves_the_cached_counts_with_the_rep_checked_live(client):
    rep = _rep("辛")
    CustomerFactory.create_batch(2, rep=rep)
    client.force_login(rep.user)
    assert client.get("/api/v1/rep/summary").json()["customers"] == 2
    assert _cached(rep)
    assert client.get("/api/v1/rep/customers").json()["count"] == 2
    CustomerFactory(rep=rep)
    assert client.get("/api/v1/rep/summary").json()["customers"] == 3
    assert client.get("/api/v1/rep/customers").json()["count"] == 3
    rep.is_active = False
    rep.save()
    assert client.get("/api/v1/rep/summary").status_code == 403  # not from the cache
    assert client.get("/api/v1/rep/customers").status_code == 403


@pytest.mark.parametrize("n", [10, 1000])
def test_page_one_from_the_cache_is_the_rep_check_alone(n, django_assert_num_queries):
    """A hit on page 1 costs the live rep check only (and Redis' one MGET), whatever the rows;
    the bytes are those of the miss that counted it (`_page_agrees`: equal to the live read)."""
    from django.test import Client

    from reps.feed import feed_token_make

    rep = _rep(f"癸{n}")
    CustomerFactory.create_batch(n, rep=rep)
    client = Client(HTTP_X_FEED_TOKEN=feed_token_make(rep))
    live = client.get("/api/v1/rep/customers").content  # the miss: counted and stored
    assert figures.read(rep.pk, timezone.localdate(), "page1")[0] is not None
    with django_assert_num_queries(1):
        assert client.get("/api/v1/rep/customers").content == live
    rep.user.is_active = False
    rep.user.save()
    assert client.get("/api/v1/rep/customers").status_code == 403  # the rep checked live


def test_no_shared_cache_means_every_read_counts(settings):
    """Without Redis (a per-process cache could not see another process's bumps) nothing is kept."""
    rep = _rep("壬")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert figures.read(rep.pk, timezone.localdate()) == (None, None)
    assert assistant_reads.summary_figures(rep=rep, cached=True) == assistant_reads.summary_figures(rep=rep)
