"""The assistant page's reads without DRF (reps.assistant_reads): the same figures and bytes as the
rules in reps.selectors and the DRF views, errors through the DRF views, constant statements."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Sum
from django.test import RequestFactory
from django.utils import timezone

from customers.models import ChurnEvent, Customer
from notifications.models import Notification
from orders.models import Order, Refund
from reps import api, assistant_reads, selectors
from reps.models import EntryEvent, Scene
from tests.factories import CustomerFactory, RepFactory, VisitorFactory

pytestmark = pytest.mark.django_db


def _rep_with_login(name):
    user = User.objects.create_user(username=f"rep-{name}", password="rep12345")
    return RepFactory(name=name, user=user), user


def _spread(table, ids, *, days):
    """created_at spread over the last `days` days (ties, if any, are broken by id as the pages do)."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET created_at = now() - random() * interval '{days} days' WHERE id = ANY(%s)",
                       [ids])


def _world(rep, other, n, seed):
    """n customers of `rep` (and a few of `other`) with orders, entries, churn events and inbox
    lines spread over the last five weeks, in bulk."""
    rng = random.Random(seed)
    now = timezone.now()
    statuses = [value for value, _ in Customer.Status.choices]
    customers = Customer.objects.bulk_create(
        Customer(name=f"餐厅{seed}-{i}", phone=f"137{seed:02d}{i:06d}", rep=rep if i % 7 else other,
                 acquired_by=rng.choice([rep, other, None]), status=rng.choice(statuses),
                 acquired_at=now - timedelta(days=rng.randint(0, 35)) if rng.random() < 0.8 else None)
        for i in range(n))
    _spread("customers_customer", [c.pk for c in customers], days=30)
    visitors = VisitorFactory.create_batch(3)
    orders, entries, churn = [], [], []
    kinds = [kind for kind, _ in Scene.CHOICES]
    for i, customer in enumerate(customers):
        for k in range(rng.randint(0, 3)):
            when = now - timedelta(minutes=rng.randint(0, 60 * 24 * 10))
            total = Decimal(rng.randint(100, 99999)) / 100
            paid = when if rng.random() < 0.8 else None
            orders.append(Order(
                number=f"{seed:02d}{i:06d}{k}", customer=customer, visitor=visitors[0], rep=customer.rep,
                status=Order.Status.PAID if paid else Order.Status.PENDING_PAYMENT,
                idempotency_key=f"k{seed}-{i}-{k}", delivery_date=when.date(), subtotal=total, total=total, restaurant_name=customer.name, contact_name="王",
                phone=customer.phone, address="深圳市福田区 1 号", expires_at=when, paid_at=paid))
        entries.append(EntryEvent(visitor=rng.choice(visitors), customer=customer, rep=customer.rep,
                                  scene_kind=rng.choice(kinds), visit_kind="first_visit"))
        if rng.random() < 0.3:
            churn.append(ChurnEvent(customer=customer, rep=customer.rep, kind=rng.choice(
                [ChurnEvent.Kind.REACTIVATED, ChurnEvent.Kind.CHURNED]),
                night=timezone.localdate() - timedelta(days=rng.randint(0, 40))))
    Order.objects.bulk_create(orders)
    # Refunds (orders.gmv: today's GMV is net of those not failed; a full one makes no sale).
    Refund.objects.bulk_create(
        Refund(order=o, out_refund_no=f"{o.number}R1", reason="测试",
               amount=o.total if n % 3 == 0 else (o.total / 2).quantize(Decimal("0.01")) or o.total,
               status=(Refund.Status.SUCCEEDED, Refund.Status.PROCESSING, Refund.Status.FAILED)[n % 3 if n % 2 else 1])
        for n, o in enumerate(o for o in orders if o.paid_at and rng.random() < 0.3))
    _spread("reps_entryevent", [e.pk for e in EntryEvent.objects.bulk_create(entries)], days=9)
    ChurnEvent.objects.bulk_create(churn)
    Notification.objects.bulk_create(
        Notification(event_key=f"e{seed}-{i}", recipient_kind="rep", recipient_id=str(rng.choice([rep, other]).pk),
                     channel=rng.choice(["inbox", "wecom"]), template="churn", title=f"提醒{i}", body="x",
                     next_attempt_at=now, read_at=now if rng.random() < 0.5 else None)
        for i in range(min(n, 80)))
    return customers


def test_summary_statement_agrees_with_the_selector_on_generated_data():
    rep, _ = _rep_with_login("甲")
    other = RepFactory()
    _world(rep, other, 120, seed=1)
    for who in (rep, other):
        for days_back in (0, 3, 9):
            now = timezone.now() - timedelta(days=days_back)
            assert assistant_reads.summary_figures(rep=who, now=now) == selectors.rep_summary(rep=who, now=now)


def test_customer_pages_and_inbox_agree_with_the_drf_views(client):
    rep, user = _rep_with_login("乙")
    _world(rep, RepFactory(), 75, seed=2)
    client.force_login(user)
    for path in ["/api/v1/rep/customers", "/api/v1/rep/customers?page=2", "/api/v1/rep/customers?page=3&x=1",
                 "/api/v1/rep/inbox", "/api/v1/rep/summary"]:
        fast = client.get(path)
        request = RequestFactory().get(path)
        request.user, request.session = user, client.session
        reference = {"/api/v1/rep/customers": api.CustomerListApi, "/api/v1/rep/inbox": api.InboxApi,
                     "/api/v1/rep/summary": api.SummaryApi}[path.split("?")[0]].as_view()(request)
        reference.render()
        assert fast.status_code == reference.status_code == 200
        assert fast.content == reference.content, path
        assert fast["Allow"] == reference["Allow"]


def test_total_spend_is_the_customers_gmv_net_of_refunds_in_both_reads(client):
    """A customer's total spend is orders.gmv's rule summed over their orders (unpaid ones
    nothing, refunds not failed deducted, a full refund to zero), in the selector and in the
    prepared statement alike, on generated data with refunds of every status."""
    from orders.gmv import order_gmv

    rep, user = _rep_with_login("辛")
    _world(rep, RepFactory(), 75, seed=5)
    expected = {}
    for order in Order.objects.filter(customer__rep=rep).prefetch_related("refunds"):
        expected[order.customer_id] = expected.get(order.customer_id, Decimal("0")) + order_gmv(
            paid=order.paid_at is not None, total=order.total,
            refunds=[(r.amount, r.status) for r in order.refunds.all()])
    refunded = set(Refund.objects.exclude(status=Refund.Status.FAILED)
                   .filter(order__customer__rep=rep).values_list("order__customer_id", flat=True))
    gross = {row["customer_id"]: row["s"] for row in Order.objects.filter(customer__rep=rep, paid_at__isnull=False)
             .values("customer_id").annotate(s=Sum("total")).order_by()}
    assert any(gross[pk] != expected[pk] for pk in refunded)  # the refunds change some customers' spend
    spend = {c.pk: c.total_spend for c in selectors.rep_customers(rep=rep)}
    assert spend == {pk: expected.get(pk, Decimal("0")) for pk in spend}
    count, rows = assistant_reads.customer_page(rep=rep, number=1, size=1000)
    assert count == len(spend)
    assert {row["id"]: row["total_spend"] for row in rows} == {pk: f"{v:.2f}" for pk, v in spend.items()}


def test_reference_rows_are_the_selectors_rows(client):
    """The DRF views themselves (the reference above) still read through reps.selectors."""
    rep, user = _rep_with_login("丙")
    _world(rep, RepFactory(), 40, seed=3)
    client.force_login(user)
    ids = [row["id"] for row in client.get("/api/v1/rep/customers").json()["results"]]
    assert ids == list(selectors.rep_customers(rep=rep).values_list("pk", flat=True)[:30])
    inbox = [row["id"] for row in client.get("/api/v1/rep/inbox").json()["messages"]]
    assert inbox == list(selectors.rep_inbox(rep=rep).values_list("pk", flat=True)[:50])


def test_odd_requests_get_the_drf_views_answers(client):
    rep, user = _rep_with_login("丁")
    CustomerFactory(rep=rep)
    for path in ["/api/v1/rep/summary", "/api/v1/rep/customers", "/api/v1/rep/inbox"]:
        anonymous = client.get(path)
        assert anonymous.status_code == 401 and set(anonymous.json()["error"]) == {"code", "message", "details"}
    client.force_login(user)
    assert client.get("/api/v1/rep/customers?page=2").status_code == 404
    assert client.get("/api/v1/rep/customers?page=abc").status_code == 404
    assert client.get("/api/v1/rep/customers?page=last").json()["count"] == 1
    assert client.post("/api/v1/rep/summary").status_code in {403, 405}  # CSRF first, as before
    rep.is_active = False
    rep.save()
    left = client.get("/api/v1/rep/summary")
    assert left.status_code == 403 and left.json()["error"]["code"] == "not_a_rep"


def test_figures_follow_the_events_at_once(client):
    """No cache: an order paid or an entry recorded shows in the next summary."""
    rep, user = _rep_with_login("戊")
    client.force_login(user)
    before = client.get("/api/v1/rep/summary").json()
    customer = CustomerFactory(rep=rep, acquired_by=rep, acquired_at=timezone.now())
    visitor = VisitorFactory(customer=customer)
    Order.objects.create(
        number="2612000001", customer=customer, visitor=visitor, rep=rep, status=Order.Status.PAID,
        idempotency_key="fresh", delivery_date=timezone.localdate(), subtotal=Decimal("88"), total=Decimal("88.00"),
        restaurant_name=customer.name, contact_name="王", phone=customer.phone, address="深圳", expires_at=timezone.now(),
        paid_at=timezone.now())
    EntryEvent.objects.create(visitor=visitor, customer=customer, rep=rep, scene_kind=Scene.IN_PERSON,
                              visit_kind="first_visit")
    after = client.get("/api/v1/rep/summary").json()
    assert after["orders_today"] == before["orders_today"] + 1
    assert Decimal(after["gmv_today"]) == Decimal(before["gmv_today"]) + Decimal("88.00")
    assert after["customers"] == before["customers"] + 1 and after["new_customers_week"] >= 1
    assert after["entries_today"][Scene.IN_PERSON] == before["entries_today"][Scene.IN_PERSON] + 1


@pytest.mark.parametrize("n", [10, 1000])
def test_assistant_reads_statements_do_not_grow_with_the_rows(client, n, django_assert_max_num_queries):
    rep, user = _rep_with_login(f"己{n}")
    _world(rep, RepFactory(), n, seed=4)
    client.force_login(user)
    client.get("/api/v1/rep/summary")  # the session is in the cache from here on
    pages = ["/api/v1/rep/customers?page=2"] if n > 100 else []
    for path in ["/api/v1/rep/summary", "/api/v1/rep/customers", *pages, "/api/v1/rep/inbox"]:
        # the user with the rep; the read (and its PREPARE the first time on a connection)
        with django_assert_max_num_queries(3):
            assert client.get(path).status_code == 200


# -- the page's signed token instead of the session (reps.assistant_reads, as the feed poll) -----------

READS = ["/api/v1/rep/summary", "/api/v1/rep/customers", "/api/v1/rep/customers?page=2", "/api/v1/rep/inbox"]


def _token_client(rep):
    from django.test import Client

    from reps.feed import feed_token_make

    return Client(HTTP_X_FEED_TOKEN=feed_token_make(rep))  # no session cookie at all


def test_the_token_reads_answer_the_session_reads_bytes(client):
    rep, user = _rep_with_login("庚")
    other, other_user = _rep_with_login("辛")
    _world(rep, other, 75, seed=5)
    client.force_login(user)
    by_token = _token_client(rep)
    for path in READS:
        with_session, with_token = client.get(path), by_token.get(path)
        assert with_session.status_code == with_token.status_code == 200, path
        assert with_token.content == with_session.content, path
        assert with_token["Allow"] == with_session["Allow"]
    # Each rep's token reads that rep's own figures and rows, whatever session comes with it.
    client.force_login(other_user)
    for path in READS:
        assert _token_client(other).get(path).content == client.get(path).content != by_token.get(path).content
    assert by_token.get("/api/v1/rep/summary").json()["rep"]["id"] == rep.pk


def test_forged_altered_expired_or_foreign_tokens_are_refused_and_read_nothing():
    import time_machine
    from django.core import signing
    from django.test import Client

    from customers.tokens import visitor_token_make
    from reps.feed import FEED_TOKEN_MAX_AGE, feed_token_make

    rep, _ = _rep_with_login("壬")
    CustomerFactory(rep=rep, name="不该看到的餐厅")
    good = feed_token_make(rep)
    other_rep, _ = _rep_with_login("癸")
    altered = good.replace(good.split(":")[0], str(other_rep.pk), 1)  # another rep's id under rep's signature
    tokens = {
        "forged": "123:abc:def",
        "altered": altered,
        "another salt (a visitor token for the same id)": visitor_token_make(rep.pk),
        "signed with another key": signing.TimestampSigner(key="not-our-secret-key-0123456789abcdef",
                                                           salt="reps.feed").sign(str(rep.pk)),
        "empty": "",
    }
    for path in READS:
        for name, token in tokens.items():
            response = Client(HTTP_X_FEED_TOKEN=token).get(path)
            assert response.status_code == 401, (path, name)
            assert response.json() == {"error": {"code": "feed_token_invalid", "message": "订单动态已过期，请刷新页面",
                                                 "details": {}}}
            assert "不该看到的餐厅".encode() not in response.content
        with time_machine.travel(timezone.now() + FEED_TOKEN_MAX_AGE + timedelta(seconds=5)):
            expired = Client(HTTP_X_FEED_TOKEN=good).get(path)
        assert expired.status_code == 401 and expired.json()["error"]["code"] == "feed_token_invalid"
    assert Client(HTTP_X_FEED_TOKEN=good).get("/api/v1/rep/customers").json()["results"][0]["name"] == "不该看到的餐厅"


@pytest.mark.parametrize("change", ["rep left", "login disabled", "login unlinked"])
def test_a_token_of_a_rep_who_left_is_refused(change):
    rep, user = _rep_with_login("子")
    CustomerFactory(rep=rep)
    client = _token_client(rep)
    assert client.get("/api/v1/rep/summary").status_code == 200
    if change == "rep left":
        rep.is_active = False
        rep.save()
    elif change == "login disabled":
        user.is_active = False
        user.save()
    else:
        rep.user = None
        rep.save()
    for path in READS:
        response = client.get(path)
        assert response.status_code == 403, (path, change)
        assert response.json()["error"]["code"] == "not_a_rep" and "results" not in response.json()


def test_odd_requests_with_a_token_get_the_drf_views_answers():
    rep, _ = _rep_with_login("丑")
    CustomerFactory(rep=rep)
    client = _token_client(rep)
    assert client.get("/api/v1/rep/customers?page=2").status_code == 404
    assert client.get("/api/v1/rep/customers?page=abc").status_code == 404
    assert client.get("/api/v1/rep/customers?page=last").json()["count"] == 1
    # Writes and other methods never take the token: the session is required (and absent here).
    assert client.post("/api/v1/rep/summary").status_code in {401, 403}


@pytest.mark.parametrize("n", [10, 1000])
def test_token_reads_run_one_statement_whatever_the_rows(n, django_assert_num_queries):
    rep, _ = _rep_with_login(f"寅{n}")
    _world(rep, RepFactory(), n, seed=6)
    client = _token_client(rep)
    pages = ["/api/v1/rep/customers?page=2"] if n > 100 else []
    for path in ["/api/v1/rep/summary", "/api/v1/rep/customers", *pages, "/api/v1/rep/inbox"]:
        client.get(path)  # a new connection prepares each statement once
        with django_assert_num_queries(1):  # no session, no user: the read alone
            assert client.get(path).status_code == 200
