"""Results per campaign: the attribution rule at its edges (pure), the SQL held equal to it on
random data, GMV net of refunds, coupons used, subscribe messages counted by the outbox's outcome,
and a query count that does not grow with the recipients."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.results import campaign_results
from campaigns.rules import ATTRIBUTION_WINDOW, attribute_order
from coupons.models import Coupon, CouponRedemption
from orders.gmv import order_counts_as_sale, order_gmv
from orders.models import Order, Refund
from tests.coupons.conftest import template
from tests.crm.helpers import paid_order
from tests.factories import CustomerFactory, RepFactory

from .conftest import consenting, make_campaign, segment_of, send

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status
D = Decimal
T = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


# --- the rule, pure ----------------------------------------------------------------------------

def test_the_attribution_window_edges():
    reaches = [(T, 1)]
    assert attribute_order(T, reaches) == 1  # paid the moment it was reached
    assert attribute_order(T + ATTRIBUTION_WINDOW - MICRO, reaches) == 1
    assert attribute_order(T + ATTRIBUTION_WINDOW, reaches) is None  # 7 days on: no longer
    assert attribute_order(T - MICRO, reaches) is None  # before the campaign
    assert attribute_order(T, []) is None
    assert ATTRIBUTION_WINDOW == timedelta(days=7)


def test_an_order_counts_for_the_latest_campaign_that_reached_the_customer_before_it():
    reaches = [(T, 1), (T + timedelta(days=2), 2)]
    assert attribute_order(T + timedelta(days=1), reaches) == 1
    assert attribute_order(T + timedelta(days=3), reaches) == 2
    # The latest reach is 7 days old or more: nothing (every other reach is older still).
    assert attribute_order(T + timedelta(days=9, hours=1), reaches) is None
    assert attribute_order(T + timedelta(days=8), reaches) == 2
    assert attribute_order(T, [(T, 3), (T, 5)]) == 5  # same moment: the later campaign


# --- the SQL -----------------------------------------------------------------------------------

def reached(campaign, customer, at: datetime) -> CampaignRecipient:
    """The rep marked the task sent at `at`."""
    row = CampaignRecipient.objects.get(campaign=campaign, customer=customer)
    CampaignRecipient.objects.filter(pk=row.pk).update(status=Status.SENT, sent_at=at)
    return row


def sent_campaign(customers, *, at=T, **fields) -> Campaign:
    campaign = send(make_campaign(segment_of(customers), **fields))
    Campaign.objects.filter(pk=campaign.pk).update(send_requested_at=at)
    campaign.refresh_from_db()
    return campaign


def result(campaign) -> dict:
    return campaign_results([campaign.pk])[0]


def test_results_count_orders_paid_inside_the_window_only():
    rep = RepFactory()
    customer = CustomerFactory(rep=rep)
    campaign = sent_campaign([customer])
    reached(campaign, customer, T)
    paid_order(customer, at=T - MICRO, total="11.00")  # before: not counted
    paid_order(customer, at=T, total="20.00")
    paid_order(customer, at=T + ATTRIBUTION_WINDOW - MICRO, total="30.00")
    paid_order(customer, at=T + ATTRIBUTION_WINDOW, total="44.00")  # 7 days on: not counted
    paid_order(customer, at=T + timedelta(days=1), total="55.00", paid=False)  # never paid

    figures = result(campaign)
    assert (figures["recipients"], figures["sent"], figures["ordered"], figures["gmv"]) == (1, 1, 2, D("50.00"))


def test_an_order_counts_once_for_the_latest_campaign_before_it():
    rep = RepFactory()
    customer = CustomerFactory(rep=rep)
    first = sent_campaign([customer])
    second = sent_campaign([customer])
    reached(first, customer, T)
    reached(second, customer, T + timedelta(days=2))
    paid_order(customer, at=T + timedelta(days=1), total="10.00")  # first's
    paid_order(customer, at=T + timedelta(days=3), total="20.00")  # second's only
    paid_order(customer, at=T + timedelta(days=8), total="40.00")  # second's (6 days after it)

    by_id = {row["id"]: row for row in campaign_results([first.pk, second.pk])}
    assert (by_id[first.pk]["ordered"], by_id[first.pk]["gmv"]) == (1, D("10.00"))
    assert (by_id[second.pk]["ordered"], by_id[second.pk]["gmv"]) == (2, D("60.00"))
    # Asked about the first alone, the order the second took over is still the second's.
    assert result(first)["ordered"] == 1


def test_a_task_not_marked_sent_reaches_nobody_and_takes_no_order():
    customer = CustomerFactory(rep=RepFactory())
    campaign = sent_campaign([customer])
    paid_order(customer, at=T + timedelta(days=1), total="10.00")
    figures = result(campaign)
    assert (figures["sent"], figures["pending"], figures["ordered"]) == (0, 1, 0)


def test_gmv_is_net_of_refunds_an_order_refunded_in_full_is_no_sale_and_coupons_used_are_counted():
    rep = RepFactory()
    buyers = [CustomerFactory(rep=rep) for _ in range(3)]
    coupon = template(name="活动券")
    campaign = sent_campaign(buyers, coupon_template=coupon)
    for buyer in buyers:
        reached(campaign, buyer, T)
    refunded = paid_order(buyers[0], at=T + timedelta(hours=1), total="100.00")
    Refund.objects.create(order=refunded, out_refund_no="R1", amount=D("30.00"), reason="少称",
                          status=Refund.Status.SUCCEEDED)
    Refund.objects.create(order=refunded, out_refund_no="R2", amount=D("50.00"), reason="失败的",
                          status=Refund.Status.FAILED)
    cancelled = paid_order(buyers[1], at=T + timedelta(hours=2), total="80.00")  # cancelled, refund on its way
    Order.objects.filter(pk=cancelled.pk).update(cancelled_at=T + timedelta(hours=3), status=Order.Status.CANCELLED)
    Refund.objects.create(order=cancelled, out_refund_no="R3", amount=D("80.00"), reason="取消",
                          status=Refund.Status.PROCESSING)
    with_coupon = paid_order(buyers[2], at=T + timedelta(hours=4), total="60.00")
    CouponRedemption.objects.create(coupon=Coupon.objects.get(customer=buyers[2], template=coupon), order=with_coupon,
                                    amount=D("20.00"), created_at=T + timedelta(hours=4))

    figures = result(campaign)
    assert (figures["ordered"], figures["gmv"], figures["coupons_used"]) == (2, D("130.00"), 1)


def test_subscribe_results_follow_the_outbox_and_opens_are_counted():
    from notifications.models import Notification
    from notifications.services import notification_send

    customers = [CustomerFactory() for _ in range(3)]
    consenting(customers[0])
    consenting(customers[1])
    campaign = send(make_campaign(segment_of(customers), channel=Campaign.Channel.SUBSCRIBE))
    first = Notification.objects.get(event_key=f"campaign:{campaign.pk}", recipient_id=str(customers[0].pk))
    notification_send(notification_id=first.pk)
    CampaignRecipient.objects.filter(campaign=campaign, customer=customers[0]).update(
        first_opened_at=timezone.now(), open_count=3)
    first.refresh_from_db()
    paid_order(customers[0], at=first.sent_at + timedelta(minutes=5), total="99.00")
    paid_order(customers[1], at=first.sent_at + timedelta(minutes=5), total="77.00")  # not yet sent to them

    figures = result(campaign)
    assert figures["failed"] == 0
    assert {k: figures[k] for k in ("recipients", "sent", "pending", "no_consent", "skipped", "opened", "opens",
                                    "ordered", "gmv")} == {
        "recipients": 3, "sent": 1, "pending": 1, "no_consent": 1, "skipped": 1, "opened": 1, "opens": 3,
        "ordered": 1, "gmv": D("99.00")}


def _reference(campaign_ids) -> dict[int, tuple[int, Decimal]]:
    """The results' orders and GMV computed in Python by the pure rules (attribution, orders.gmv),
    from plain rows."""
    reaches: dict[int, list] = {}
    for row in CampaignRecipient.objects.filter(status=Status.SENT):
        reaches.setdefault(row.customer_id, []).append((row.sent_at, row.campaign_id))
    out = {pk: (0, D("0.00")) for pk in campaign_ids}
    for order in Order.objects.prefetch_related("refunds"):
        gmv = order_gmv(paid=order.paid_at is not None, total=order.total,
                        refunds=[(r.amount, r.status) for r in order.refunds.all()])
        if not order_counts_as_sale(gmv):
            continue
        campaign = attribute_order(order.paid_at, reaches.get(order.customer_id, []))
        if campaign in out:
            count, total = out[campaign]
            out[campaign] = (count + 1, total + gmv)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sql_agrees_with_the_pure_rule_on_random_data(seed):
    rng = random.Random(seed)
    rep = RepFactory()
    customers = [CustomerFactory(rep=rep) for _ in range(12)]
    campaigns = [sent_campaign(rng.sample(customers, 8)) for _ in range(4)]
    for campaign in campaigns:
        for row in CampaignRecipient.objects.filter(campaign=campaign):
            if rng.random() < 0.8:
                reached(campaign, row.customer, T + timedelta(hours=rng.randrange(0, 24 * 12)))
    for n in range(60):
        order = paid_order(rng.choice(customers), at=T + timedelta(minutes=rng.randrange(-60 * 24, 60 * 24 * 22)),
                           total=f"{rng.randrange(50, 500)}.00", paid=rng.random() > 0.05)
        if rng.random() < 0.2:
            Refund.objects.create(order=order, out_refund_no=f"R{seed}-{n}", amount=D(f"{rng.randrange(1, 80)}.00"),
                                  reason="差价", status=rng.choice(list(Refund.Status.values)))
        if rng.random() < 0.1:  # cancelled and refunded in full: no sale
            Order.objects.filter(pk=order.pk).update(cancelled_at=order.paid_at, status=Order.Status.CANCELLED)
            Refund.objects.create(order=order, out_refund_no=f"C{seed}-{n}", amount=order.total, reason="取消",
                                  status=Refund.Status.SUCCEEDED)
    # Edges for sure: an order exactly at a reach and one exactly 7 days after it.
    edge = CampaignRecipient.objects.filter(status=Status.SENT).first()
    paid_order(edge.customer, at=edge.sent_at, total="123.00")
    paid_order(edge.customer, at=edge.sent_at + ATTRIBUTION_WINDOW, total="321.00")

    ids = [c.pk for c in campaigns]
    sql = {row["id"]: (row["ordered"], row["gmv"]) for row in campaign_results(ids)}
    assert sql == _reference(ids)
    # A subset asked alone gets the same figures (attribution looks at every campaign).
    assert {row["id"]: (row["ordered"], row["gmv"]) for row in campaign_results(ids[:2])} == {
        pk: sql[pk] for pk in ids[:2]}


def _queries(customer_count: int) -> int:
    rep = RepFactory()
    customers = [CustomerFactory(rep=rep) for _ in range(customer_count)]
    campaign = sent_campaign(customers, coupon_template=template(name=f"券{customer_count}"))
    CampaignRecipient.objects.filter(campaign=campaign).update(status=Status.SENT, sent_at=T)
    for customer in customers[:: max(1, customer_count // 10)]:
        paid_order(customer, at=T + timedelta(days=1), total="10.00")
    with CaptureQueriesContext(connection) as queries:
        figures = campaign_results([campaign.pk])
    assert figures[0]["recipients"] == customer_count and figures[0]["ordered"] == 10
    return len(queries)


def test_the_query_count_does_not_grow_with_the_recipients():
    assert _queries(10) == _queries(1000) == 4


def test_results_by_send_date_range():
    customer = CustomerFactory(rep=RepFactory())
    inside = sent_campaign([customer], at=T)
    sent_campaign([customer], at=T - timedelta(days=40))
    rows = campaign_results(since=T - timedelta(days=1), until=T + timedelta(days=1))
    assert [row["id"] for row in rows] == [inside.pk]
    assert campaign_results([]) == []


def test_results_per_rep_for_the_dashboard():
    from campaigns.results import campaign_results_by_rep

    first, second = RepFactory(), RepFactory()
    a, b = CustomerFactory(rep=first), CustomerFactory(rep=second)
    campaign = sent_campaign([a, b])
    reached(campaign, a, T)
    reached(campaign, b, T)
    paid_order(a, at=T + timedelta(days=1), total="10.00")
    paid_order(a, at=T + timedelta(days=2), total="15.00")
    b.rep = first  # a handover after the send: the reach stays the rep's who had the customer then
    b.save()
    paid_order(b, at=T + timedelta(days=1), total="7.00")

    figures = campaign_results_by_rep(since=T - timedelta(days=1), until=T + timedelta(days=1))
    assert figures == {first.pk: {"sent": 1, "ordered": 2, "gmv": D("25.00")},
                       second.pk: {"sent": 1, "ordered": 1, "gmv": D("7.00")}}
    assert campaign_results_by_rep(since=T + timedelta(days=1), until=T + timedelta(days=2)) == {}


def test_a_subscribe_message_the_outbox_could_not_deliver_is_counted_failed_not_pending():
    from notifications.models import Notification

    customers = [CustomerFactory() for _ in range(2)]
    for customer in customers:
        consenting(customer)
    campaign = send(make_campaign(segment_of(customers), channel=Campaign.Channel.SUBSCRIBE))
    Notification.objects.filter(recipient_id=str(customers[0].pk), event_key=f"campaign:{campaign.pk}").update(
        status=Notification.Status.UNKNOWN)
    figures = result(campaign)
    assert (figures["sent"], figures["failed"], figures["pending"]) == (0, 1, 1)
