"""Results per campaign, in SQL with a fixed number of queries (four) however many campaigns and
recipients: `campaign_results(campaign_ids=…)` or `campaign_results(since=…, until=…)`.

For each campaign:
- recipients: the segment's customers when it was sent (CampaignRecipient rows);
- sent: reached the customer — a subscribe message WeChat accepted (its outbox row `sent`), or a
  rep task the rep marked sent; pending: handed over but not yet (outbox or rep);
- skipped: over the monthly cap; no consent (no acceptance at sending, or none left when the
  outbox sent it); no rep (rep tasks for customers without a rep: listed in admin);
- opened: recipients who opened their tracked link at least once (opens: all opens);
- orders / GMV within 7 days: paid, not cancelled orders attributed to the campaign by
  campaigns.rules.attribute_order — each order counts once, for the LATEST campaign that reached
  its customer at or before its payment, when that reach is less than 7 days before it; GMV is
  their totals less their refunds (every refund not failed), campaigns.rules.net_value;
- coupons used: coupons of the campaign's issue held by a paid order.

The pure rule is campaigns.rules; tests/campaigns/test_results.py holds this SQL equal to it.
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest

from .models import Campaign, CampaignRecipient
from .rules import ATTRIBUTION_WINDOW

Status = CampaignRecipient.Status
ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=14, decimal_places=2)

# A recipient the campaign reached, and when (the rep's mark, or WeChat's send).
REACHED = Q(status=Status.SENT) | Q(status=Status.QUEUED, notification__status="sent")


def reaches():
    """Every recipient a campaign reached, with `reached_at`."""
    return (CampaignRecipient.objects.filter(REACHED)
            .annotate(reached_at=Coalesce("sent_at", "notification__sent_at")))


def _campaigns(campaign_ids, since, until):
    rows = Campaign.objects.exclude(status=Campaign.Status.DRAFT)
    if campaign_ids is not None:
        rows = rows.filter(pk__in=list(campaign_ids))
    if since is not None:
        rows = rows.filter(send_requested_at__gte=since)
    if until is not None:
        rows = rows.filter(send_requested_at__lt=until)
    return list(rows.order_by("-send_requested_at", "-pk").values(
        "pk", "name", "channel", "status", "segment_count", "send_requested_at", "sent_at", "coupon_issue_id"))


def _recipient_counts(ids):
    notification_status = "notification__status"
    counted = {
        "recipients": Count("pk"),
        "sent": Count("pk", filter=REACHED),
        "skipped_cap": Count("pk", filter=Q(status=Status.SKIPPED_CAP)),
        "no_consent": Count("pk", filter=Q(status=Status.NO_CONSENT)
                            | Q(status=Status.QUEUED, **{notification_status: "no_consent"})),
        "no_rep": Count("pk", filter=Q(status=Status.NO_REP)),
        "opened": Count("pk", filter=Q(first_opened_at__isnull=False)),
        "opens": Coalesce(Sum("open_count"), 0),
    }
    return {row.pop("campaign_id"): row for row in CampaignRecipient.objects.filter(campaign_id__in=ids)
            .values("campaign_id").annotate(**counted).order_by()}


def attributed_orders(ids, earliest: datetime):
    """Paid, not cancelled orders of the campaigns' customers since `earliest`, each with the
    campaign it counts for (`campaign`) and its refunds (`refunded`), kept to the campaigns `ids`."""
    from orders.models import Order, Refund

    latest_reach = (reaches().filter(customer_id=OuterRef("customer_id"), reached_at__lte=OuterRef("paid_at"))
                    .order_by("-reached_at", "-campaign_id"))
    # The latest reach at or before payment; kept only if it is inside the window (an older reach
    # is further away still, so none of the customer's other reaches could be).
    attributed = latest_reach.filter(reached_at__gt=OuterRef("paid_at") - ATTRIBUTION_WINDOW).values("campaign_id")[:1]
    refunded = (Refund.objects.filter(order_id=OuterRef("pk")).exclude(status=Refund.Status.FAILED)
                .order_by().values("order_id").annotate(total=Sum("amount")).values("total"))
    # The window's end is exclusive (rules.attribute_order: paid_at < reached_at + window), the same
    # as reached_at > paid_at - window.
    customers = CampaignRecipient.objects.filter(campaign_id__in=ids).filter(REACHED).values("customer_id")
    return (Order.objects.filter(paid_at__isnull=False, cancelled_at__isnull=True, paid_at__gte=earliest,
                                 customer_id__in=customers)
            .annotate(campaign=Subquery(attributed),
                      refunded=Coalesce(Subquery(refunded, output_field=_MONEY), Value(ZERO), output_field=_MONEY))
            .filter(campaign__in=ids))


def _order_counts(ids, earliest):
    net = Greatest(F("total") - F("refunded"), Value(ZERO), output_field=_MONEY)
    rows = (attributed_orders(ids, earliest).values("campaign")
            .annotate(orders=Count("pk"), gmv=Coalesce(Sum(net), Value(ZERO), output_field=_MONEY)).order_by())
    return {row["campaign"]: row for row in rows}


def _coupons_used(issue_ids):
    from coupons.models import CouponRedemption

    if not issue_ids:
        return {}
    return dict(CouponRedemption.objects.filter(released_at__isnull=True, coupon__issue_id__in=issue_ids,
                                                order__paid_at__isnull=False)
                .values("coupon__issue_id").annotate(n=Count("pk")).values_list("coupon__issue_id", "n").order_by())


def campaign_results(campaign_ids=None, *, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Results of the campaigns named, or of those sent in [since, until) (UTC moments; a
    Shanghai day range is the caller's to convert), newest first. Drafts have none. Four queries."""
    campaigns = _campaigns(campaign_ids, since, until)
    if not campaigns:
        return []
    ids = [row["pk"] for row in campaigns]
    earliest = min(row["send_requested_at"] for row in campaigns)
    counts = _recipient_counts(ids)
    orders = _order_counts(ids, earliest)
    coupons = _coupons_used([row["coupon_issue_id"] for row in campaigns if row["coupon_issue_id"]])
    empty = {"recipients": 0, "sent": 0, "skipped_cap": 0, "no_consent": 0, "no_rep": 0,
             "opened": 0, "opens": 0}
    results = []
    for row in campaigns:
        figures = counts.get(row["pk"], empty)
        skipped = figures["skipped_cap"] + figures["no_consent"] + figures["no_rep"]
        ordered = orders.get(row["pk"], {})
        results.append({
            "id": row["pk"], "name": row["name"], "channel": row["channel"], "status": row["status"],
            "sent_at": row["send_requested_at"], "finished_at": row["sent_at"],
            **{key: figures[key] for key in empty},
            "skipped": skipped,
            # handed over, not yet sent (the rep has not marked it, the outbox not sent it yet)
            "pending": figures["recipients"] - figures["sent"] - skipped,
            "orders": ordered.get("orders", 0),
            "gmv": Decimal(ordered.get("gmv", ZERO)).quantize(Decimal("0.01")),
            "coupons_used": coupons.get(row["coupon_issue_id"], 0),
        })
    return results
