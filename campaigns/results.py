"""Results per campaign, in SQL with a fixed number of queries (four) however many campaigns and
recipients: `campaign_results(campaign_ids=…)` or `campaign_results(since=…, until=…)`; and the
same figures per rep (`campaign_results_by_rep`, two queries) for the company dashboard.

For each campaign:
- recipients: the segment's customers when it was sent (CampaignRecipient rows);
- sent: reached the customer — a subscribe message WeChat accepted (its outbox row `sent`), or a
  rep task the rep marked sent; pending: handed over but not yet (outbox or rep); failed: the
  outbox could not deliver it (refused, failed for good, or an outcome unknown);
- skipped: over the monthly cap; no consent (no acceptance at sending, or none left when the
  outbox sent it); no rep (rep tasks for customers without a rep: listed in admin);
- opened: recipients who opened their tracked link at least once (opens: all opens);
- ordered / GMV within 7 days: sales (orders.gmv, the one GMV rule: paid orders, their total less
  every refund not failed; an order refunded in full is no sale) attributed to the campaign by
  campaigns.rules.attribute_order — each order counts once, for the LATEST campaign that reached
  its customer at or before its payment, when that reach is less than 7 days before it;
- coupons used: coupons of the campaign's issue held by a paid order.

The pure rule is campaigns.rules; tests/campaigns/test_results.py holds this SQL equal to it.
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import Campaign, CampaignRecipient
from .rules import ATTRIBUTION_WINDOW

Status = CampaignRecipient.Status
ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=14, decimal_places=2)

# A recipient the campaign reached, and when (the rep's mark, or WeChat's send).
REACHED = Q(status=Status.SENT) | Q(status=Status.QUEUED, notification__status="sent")
OUTBOX_FAILED = ["skipped", "failed", "unknown"]


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
        # the outbox could not deliver it (WeChat refused, settings, a send whose outcome is unknown)
        "failed": Count("pk", filter=Q(status=Status.QUEUED, **{f"{notification_status}__in": OUTBOX_FAILED})),
        "opened": Count("pk", filter=Q(first_opened_at__isnull=False)),
        "opens": Coalesce(Sum("open_count"), 0),
    }
    return {row.pop("campaign_id"): row for row in CampaignRecipient.objects.filter(campaign_id__in=ids)
            .values("campaign_id").annotate(**counted).order_by()}


def _attributed(field: str):
    """For an order (the outer query): `field` of the recipient its payment is attributed to — the
    latest reach of its customer at or before the payment, kept only if it is inside the window
    (an older reach is further away still, so none of the customer's other reaches could be).
    The window's end is exclusive (rules.attribute_order: paid_at < reached_at + window), the same
    as reached_at > paid_at - window. Ties of moments: the higher campaign id, as the rule."""
    return Subquery(reaches().filter(customer_id=OuterRef("customer_id"), reached_at__lte=OuterRef("paid_at"),
                                     reached_at__gt=OuterRef("paid_at") - ATTRIBUTION_WINDOW)
                    .order_by("-reached_at", "-campaign_id").values(field)[:1])


def attributed_orders(campaigns, earliest: datetime):
    """Sales (orders.gmv: paid, worth more than 0 after refunds) of the campaigns' reached customers
    paid since `earliest`, each with `gmv` and the campaign it counts for (`campaign`), kept to
    `campaigns` (ids, or a subquery of ids)."""
    from orders.gmv import with_gmv
    from orders.models import Order

    customers = CampaignRecipient.objects.filter(campaign_id__in=campaigns).filter(REACHED).values("customer_id")
    return (with_gmv(Order.objects.filter(paid_at__gte=earliest, customer_id__in=customers))
            .filter(gmv__gt=0).annotate(campaign=_attributed("campaign_id")).filter(campaign__in=campaigns))


def _order_counts(ids, earliest):
    rows = (attributed_orders(ids, earliest).values("campaign")
            .annotate(ordered=Count("pk"), sales=Coalesce(Sum("gmv"), Value(ZERO), output_field=_MONEY)).order_by())
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
    empty = {"recipients": 0, "sent": 0, "skipped_cap": 0, "no_consent": 0, "no_rep": 0, "failed": 0,
             "opened": 0, "opens": 0}
    results = []
    for row in campaigns:
        figures = counts.get(row["pk"], empty)
        skipped = figures["skipped_cap"] + figures["no_consent"] + figures["no_rep"]
        sales = orders.get(row["pk"], {})
        results.append({
            "id": row["pk"], "name": row["name"], "channel": row["channel"], "status": row["status"],
            "sent_at": row["send_requested_at"], "finished_at": row["sent_at"],
            **{key: figures[key] for key in empty},
            "skipped": skipped,
            # handed over, not yet sent (the rep has not marked it, the outbox not sent it yet)
            "pending": figures["recipients"] - figures["sent"] - skipped - figures["failed"],
            "ordered": sales.get("ordered", 0),
            "gmv": Decimal(sales.get("sales", ZERO)).quantize(Decimal("0.01")),
            "coupons_used": coupons.get(row["coupon_issue_id"], 0),
        })
    return results


def campaign_results_by_rep(*, since: datetime, until: datetime) -> dict:
    """For the campaigns sent in [since, until): per rep — the customer's rep when the campaign was
    sent; None for customers without one — how many recipients were reached (`sent`), and the sales
    attributed to those reaches (`ordered`, `gmv`), by the same rule as campaign_results. Two queries."""
    campaigns = (Campaign.objects.exclude(status=Campaign.Status.DRAFT)
                 .filter(send_requested_at__gte=since, send_requested_at__lt=until).values("pk"))
    out: dict = {}
    empty = {"sent": 0, "ordered": 0, "gmv": ZERO}
    for row in (CampaignRecipient.objects.filter(campaign_id__in=campaigns).filter(REACHED)
                .values("rep_id").annotate(n=Count("pk")).order_by()):
        out.setdefault(row["rep_id"], dict(empty))["sent"] = row["n"]
    rows = (attributed_orders(campaigns, since).annotate(reached_by=_attributed("rep_id")).values("reached_by")
            .annotate(ordered=Count("pk"), sales=Coalesce(Sum("gmv"), Value(ZERO), output_field=_MONEY)).order_by())
    for row in rows:
        figures = out.setdefault(row["reached_by"], dict(empty))
        figures["ordered"], figures["gmv"] = row["ordered"], Decimal(row["sales"]).quantize(Decimal("0.01"))
    return out
