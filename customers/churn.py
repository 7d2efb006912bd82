"""Churn: the nightly sweep, reactivation at payment, and the rep's nearby list.

The rules (documented for the business, editable in admin as ChurnSettings):
- churned: no paid order for `churn_days` days (default 30);
- at risk: not churned yet, at least `at_risk_min_orders` paid orders, and silent for longer than
  `at_risk_multiplier` × the customer's own average interval between orders (first to last order
  divided by the gaps), and at least `at_risk_min_silence_days`. A restaurant ordering every
  3 days is at risk after 9 silent days; one ordering fortnightly only when it churns.
- customers who never paid an order are neither (there is no rhythm to lose).
- a churned customer who pays again is reactivated, and the rep looking after them at that moment
  is credited with the win-back.

The sweep is set-based: a handful of statements whatever the number of customers, reading only
columns kept on the customer at each payment (last/first order, count, usual interval).
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import DatabaseError, connection, transaction
from django.db.models import (
    Count, DateTimeField, DurationField, ExpressionWrapper, F, Max, Min, OuterRef, Q, Subquery, Value,
)
from django.utils import timezone

from core import geo

from core.errors import Conflict, ValidationFailed

from .models import ChurnEvent, ChurnSettings, ChurnSnapshot, Customer

logger = logging.getLogger(__name__)
Status = Customer.Status
Kind = ChurnEvent.Kind


@dataclass(frozen=True)
class SweepResult:
    night: object
    new_churned: int
    new_at_risk: int
    notified_reps: int


def _insert_events(queryset, *, kind: str, night) -> int:
    """ChurnEvent rows for every customer of `queryset`, once a night: one INSERT … SELECT.

    Set-based in the database — no rows travel to Python (iterating them through a server-side
    cursor was the slow part of the sweep at 500,000 customers).
    """
    select_sql, params = queryset.values("id", "rep_id", "last_order_at").query.sql_with_params()
    table = ChurnEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (customer_id, kind, rep_id, night, last_order_at, created_at) "
            f"SELECT c.id, %s, c.rep_id, %s, c.last_order_at, %s FROM ({select_sql}) c WHERE TRUE "
            "ON CONFLICT DO NOTHING",
            [kind, night, timezone.now(), *params],
        )
        return cursor.rowcount


def churn_candidates(*, rules: ChurnSettings, now: datetime):
    """The customers who turn churned, and those who turn at risk, at `now`."""
    cutoff = now - timedelta(days=rules.churn_days)
    newly_churned = Customer.objects.filter(status__in=[Status.ACTIVE, Status.AT_RISK], last_order_at__lt=cutoff)
    # In tenths, with integer arithmetic: SQLite's duration emulation breaks on a float multiplier.
    tenths = int(rules.at_risk_multiplier * 10)
    patience = ExpressionWrapper(F("usual_interval") * tenths / 10, output_field=DurationField())
    newly_at_risk = Customer.objects.filter(
        status=Status.ACTIVE, last_order_at__gte=cutoff, paid_order_count__gte=rules.at_risk_min_orders,
        last_order_at__lt=now - timedelta(days=rules.at_risk_min_silence_days), usual_interval__isnull=False,
    ).filter(last_order_at__lt=ExpressionWrapper(Value(now) - patience, output_field=DateTimeField()))
    return newly_churned, newly_at_risk


def churn_sweep(*, now: datetime | None = None) -> SweepResult:
    """Mark newly churned and at-risk customers, once a night, and tell their reps.

    Refused (Conflict) while another sweep runs; running it again the same night finds nothing new
    and sends nothing twice (events and notifications are unique per customer and night).
    """
    now = now or timezone.now()
    night = timezone.localdate(now)
    ChurnSettings.current()  # make sure the row to lock exists
    with transaction.atomic():
        try:
            rules = ChurnSettings.objects.select_for_update(nowait=True).get(pk=1)
        except DatabaseError:
            raise Conflict("流失扫描正在运行，请稍后再试", code="sweep_running")
        newly_churned, newly_at_risk = churn_candidates(rules=rules, now=now)

        churned = _insert_events(newly_churned, kind=Kind.CHURNED, night=night)
        tonight_churned = ChurnEvent.objects.filter(kind=Kind.CHURNED, night=night).values("customer_id")
        newly_churned.filter(pk__in=tonight_churned).update(status=Status.CHURNED, status_changed_at=now)

        at_risk = _insert_events(newly_at_risk, kind=Kind.AT_RISK, night=night)
        tonight_at_risk = ChurnEvent.objects.filter(kind=Kind.AT_RISK, night=night).values("customer_id")
        Customer.objects.filter(status=Status.ACTIVE, pk__in=tonight_at_risk).update(
            status=Status.AT_RISK, status_changed_at=now)

        from reps import figures

        figures.changed_everyone()  # set-based writes: no signals (reps.figures)
        notified = _notify_reps(night=night)
        _snapshot(night=night)
    logger.info("churn sweep %s: %s churned, %s at risk, %s reps told", night, churned, at_risk, notified)
    return SweepResult(night=night, new_churned=churned, new_at_risk=at_risk, notified_reps=notified)


def _notify_reps(*, night) -> int:
    """Each rep: an inbox line per newly churned / at-risk customer (linking to the last order),
    and one WeCom digest for the night. Unique per event, so a rerun sends nothing twice.
    Written in bulk (notify_many): a night can bring thousands of alerts for a thousand reps."""
    from notifications.services import notify_many
    from orders.models import Order

    last_order = Order.objects.filter(customer=OuterRef("customer_id"), paid_at__isnull=False).order_by(
        "-paid_at").values("pk")[:1]
    events = (ChurnEvent.objects.filter(night=night, kind__in=[Kind.CHURNED, Kind.AT_RISK], rep__isnull=False)
              .annotate(last_order_id=Subquery(last_order))
              .values_list("pk", "kind", "rep_id", "last_order_at", "last_order_id", "customer_id", "customer__name")
              .order_by("rep_id", "id"))
    per_rep: dict[int, list] = {}
    alerts = []
    for pk, kind, rep_id, last_order_at, last_order_id, customer_id, name in events.iterator(chunk_size=5000):
        label = "已流失" if kind == Kind.CHURNED else "流失预警"
        days = (night - timezone.localdate(last_order_at)).days if last_order_at else 0
        alerts.append({
            "event_key": f"churn:{pk}", "recipient_kind": "rep", "recipient_id": rep_id, "channel": "inbox",
            "template": "churn_alert", "title": f"{label}：{name}",
            "body": f"{days} 天未下单，上次下单 {timezone.localtime(last_order_at):%m-%d}" if last_order_at
            else "尚未下单",
            "link": f"/rep/customers/{customer_id}/" + (f"?order={last_order_id}" if last_order_id else ""),
            "data": {"customer_id": customer_id, "kind": kind, "last_order_id": str(last_order_id or "")},
        })
        per_rep.setdefault(rep_id, []).append((label, name))
        if len(alerts) == 5000:
            notify_many(alerts)
            alerts = []
    notify_many(alerts)
    digests = []
    for rep in _reps(per_rep):
        if not rep.wecom_user_id:
            continue
        items = per_rep[rep.pk]
        churned = sum(1 for label, _ in items if label == "已流失")
        digests.append({
            "event_key": f"churn-digest:{night}", "recipient_kind": "rep", "recipient_id": rep.pk,
            "channel": "wecom", "template": "churn_digest",
            "title": f"{night:%m月%d日} 流失提醒：{churned} 家流失，{len(items) - churned} 家预警",
            "body": "；".join(f"{name}({label})" for label, name in items[:20]) + ("…" if len(items) > 20 else ""),
            "link": "/rep/#churn", "address": rep.wecom_user_id,
        })
    notify_many(digests)
    return len(per_rep)


def _reps(per_rep):
    from reps.models import Rep

    return Rep.objects.filter(pk__in=list(per_rep))


def churn_status_counts() -> dict[str, int]:
    """Customers now, as the churn dashboard counts them: those with a paid order by status
    (active, at_risk, churned), and those who never paid one (never_ordered: no rhythm, neither)."""
    return Customer.objects.aggregate(
        active=Count("pk", filter=Q(status=Status.ACTIVE, paid_order_count__gt=0)),
        at_risk=Count("pk", filter=Q(status=Status.AT_RISK, paid_order_count__gt=0)),
        churned=Count("pk", filter=Q(status=Status.CHURNED, paid_order_count__gt=0)),
        never_ordered=Count("pk", filter=Q(paid_order_count=0)))


def _snapshot(*, night) -> None:
    counts = churn_status_counts()
    counts.pop("never_ordered")
    events = ChurnEvent.objects.filter(night=night).aggregate(
        new_at_risk=Count("pk", filter=Q(kind=Kind.AT_RISK)), new_churned=Count("pk", filter=Q(kind=Kind.CHURNED)),
        reactivated=Count("pk", filter=Q(kind=Kind.REACTIVATED)))
    ChurnSnapshot.objects.update_or_create(night=night, defaults={**counts, **events})


def usual_interval(*, count: int, first: datetime | None, last: datetime | None) -> timedelta | None:
    """A customer's usual time between paid orders: first to last divided by the gaps (None below 2)."""
    return (last - first) / (count - 1) if count >= 2 and first is not None and last is not None else None


def customer_record_payment(*, customer_id: int, paid_at: datetime) -> bool:
    """Keep the ordering rhythm up to date when an order is paid; reactivate a churned customer.

    Runs inside the payment's transaction. Returns True if this payment won the customer back.
    """
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    count = customer.paid_order_count + 1
    first = min(customer.first_order_at or paid_at, paid_at)
    last = max(customer.last_order_at or paid_at, paid_at)
    customer.paid_order_count, customer.first_order_at, customer.last_order_at = count, first, last
    customer.usual_interval = usual_interval(count=count, first=first, last=last)
    fields = ["paid_order_count", "first_order_at", "last_order_at", "usual_interval", "updated_at"]
    won_back = customer.status == Status.CHURNED
    if customer.status != Status.ACTIVE:
        customer.status, customer.status_changed_at = Status.ACTIVE, paid_at
        fields += ["status", "status_changed_at"]
    customer.save(update_fields=fields)
    if won_back:
        ChurnEvent.objects.get_or_create(
            customer=customer, kind=Kind.REACTIVATED, night=timezone.localdate(paid_at),
            defaults={"rep_id": customer.rep_id, "last_order_at": paid_at})
    return won_back


STATS_FIELDS = ("paid_order_count", "first_order_at", "last_order_at", "usual_interval")


def _stats_from_orders():
    """Per customer with paid orders, what the rhythm columns must say: {customer_id: (count, first, last, interval)}."""
    from orders.models import Order

    rows = (Order.objects.filter(paid_at__isnull=False).values("customer_id")
            .annotate(n=Count("pk"), first=Min("paid_at"), last=Max("paid_at")).order_by())
    for row in rows.iterator(chunk_size=5000):
        yield row["customer_id"], (row["n"], row["first"], row["last"],
                                   usual_interval(count=row["n"], first=row["first"], last=row["last"]))


def _stored_stats() -> dict[int, tuple]:
    return {row[0]: row[1:] for row in Customer.objects.filter(paid_order_count__gt=0).values_list("pk", *STATS_FIELDS)}


def customer_order_stats_drift() -> list[dict]:
    """Nightly check of the denormalised rhythm columns against the orders themselves."""
    stored = _stored_stats()
    drift = []
    for customer_id, wanted in _stats_from_orders():
        mine = stored.pop(customer_id, None)
        if mine != wanted:
            drift.append({"customer_id": customer_id, "orders": wanted[0],
                          "stored": dict(zip(STATS_FIELDS, mine, strict=True)) if mine else None})
    drift.extend({"customer_id": pk, "orders": 0, "stored": dict(zip(STATS_FIELDS, mine, strict=True))}
                 for pk, mine in stored.items())
    return drift


def customer_order_stats_recompute() -> int:
    """Rewrite the rhythm columns from the orders wherever they drift (what the nightly check
    reports); customers without a paid order get none. Returns how many customers were corrected.

    For data written around payment_settle (imports, the demo seeder); status is left to the sweep.
    """
    stored = _stored_stats()
    changed = [(customer_id, wanted) for customer_id, wanted in _stats_from_orders()
               if stored.pop(customer_id, None) != wanted]
    changed.extend((pk, (0, None, None, None)) for pk in stored)
    # One UPDATE a customer: bulk_update's CASE expressions cost ~10x more to build than these.
    with transaction.atomic():
        for customer_id, wanted in changed:
            Customer.objects.filter(pk=customer_id).update(**dict(zip(STATS_FIELDS, wanted, strict=True)))
    return len(changed)


# Nearby lapsing customers for a rep -------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088
MAX_RADIUS_KM = 50
MAX_RESULTS = 200


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance; on GCJ-02 coordinates this is what a short walk needs (docs/wechat.md, Location)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def lapsing_customers_near(*, rep, latitude, longitude, radius_km: float = 5, limit: int = 50,
                           datum: str = "gcj02") -> list[dict]:
    """The rep's churned and at-risk customers nearest first, within `radius_km` of the position,
    which comes in `datum` (a browser's fix is WGS-84) and is compared in GCJ-02, the pins' datum.

    A bounding box on the indexed coordinates narrows the rows in SQL; the exact distance is
    computed only for those. Bounded by radius and count.
    """
    try:
        lat, lng = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise ValidationFailed("位置无效", code="invalid_location")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or math.isnan(lat) or math.isnan(lng):
        raise ValidationFailed("位置无效", code="invalid_location")
    lat, lng = geo.to_gcj02(lat, lng, datum=geo.datum_param(datum))
    radius_km = max(0.1, min(float(radius_km), MAX_RADIUS_KM))
    limit = max(1, min(int(limit), MAX_RESULTS))
    dlat = radius_km / 111.0
    dlng = radius_km / (111.0 * max(math.cos(math.radians(lat)), 0.01))
    rows = (Customer.objects.lapsing().filter(
        rep=rep, latitude__gte=Decimal(str(lat - dlat)), latitude__lte=Decimal(str(lat + dlat)),
        longitude__gte=Decimal(str(lng - dlng)), longitude__lte=Decimal(str(lng + dlng)))
        .values("pk", "name", "address", "phone", "status", "latitude", "longitude", "last_order_at"))
    found = []
    for row in rows.iterator(chunk_size=2000):
        km = distance_km(lat, lng, float(row["latitude"]), float(row["longitude"]))
        if km <= radius_km:
            row["distance_km"] = round(km, 3)
            found.append(row)
    found.sort(key=lambda r: r["distance_km"])
    return found[:limit]

