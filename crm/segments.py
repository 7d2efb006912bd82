"""Segments: which customers a set of filters selects, evaluated in SQL each time it is used.

The filters (a saved Segment, or SegmentFilters built from an admin form before saving). Every
filter left empty is ignored; those set all apply (AND):

- tags: AND between tag groups, OR within a group — as WeCom's tag_filter (customers carrying 火锅
  or 烧烤, and 大; manual and automatic tags alike);
- reps: the customer's current rep is one of them;
- districts: the customer's district is one of them;
- distance: within `radius_km` of (near_latitude, near_longitude), great-circle on GCJ-02
  (customers without a location are out);
- churn statuses: the customer's status is one of them (活跃 / 流失预警 / 已流失);
- last order between two Shanghai dates, both ends included (customers who never ordered are out);
- spend range: the customer's spend lies within [spend_min, spend_max] (no spend counts as 0);
- category: has (or has not) bought the category (an aisle includes its shelves).

Spend and category read last night's summary (CustomerSpend, written by the automatic tags): line
amounts of paid, not cancelled orders over the automatic tags' category window (AutoTagSettings,
default the last 90 days) — so a count never aggregates millions of order lines.

`segment_customer_ids` returns a lazy queryset of ids (usable as a subquery: `pk__in=`), and
`segment_count` counts the same queryset, so a count and the ids it promises always agree.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, FloatField, OuterRef, Q
from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt
from django.utils import timezone

from core.errors import ValidationFailed

from .models import CustomerSpend, CustomerTag, Segment

EARTH_RADIUS_KM = 6371.0088
MAX_RADIUS_KM = 200


@dataclass(frozen=True)
class SegmentFilters:
    tag_ids_by_group: dict[int, tuple[int, ...]] = field(default_factory=dict)
    rep_ids: tuple[int, ...] = ()
    districts: tuple[str, ...] = ()
    near: tuple[float, float, float] | None = None  # latitude, longitude, radius in km
    churn_statuses: tuple[str, ...] = ()
    last_order_from: date | None = None
    last_order_to: date | None = None
    spend_min: Decimal | None = None
    spend_max: Decimal | None = None
    category_id: int | None = None
    category_bought: bool = True


def split_words(text: str) -> tuple[str, ...]:
    """"福田, 南山 罗湖" → ("福田", "南山", "罗湖")."""
    return tuple(word for word in text.replace("，", ",").replace(",", " ").split() if word)


def segment_filters(segment: Segment, *, tags=None, reps=None) -> SegmentFilters:
    """The filters of a saved segment (or of an unsaved one with its tags and reps given)."""
    tag_rows = tags if tags is not None else segment.tags.all()
    by_group: dict[int, list[int]] = {}
    for tag in tag_rows:
        by_group.setdefault(tag.group_id, []).append(tag.pk)
    rep_ids = tuple(rep.pk for rep in (reps if reps is not None else segment.reps.all()))
    near = None
    if segment.near_latitude is not None and segment.near_longitude is not None and segment.radius_km:
        near = (float(segment.near_latitude), float(segment.near_longitude), float(segment.radius_km))
    return SegmentFilters(
        tag_ids_by_group={group: tuple(sorted(ids)) for group, ids in by_group.items()}, rep_ids=rep_ids,
        districts=split_words(segment.districts), near=near, churn_statuses=split_words(segment.churn_statuses),
        last_order_from=segment.last_order_from, last_order_to=segment.last_order_to,
        spend_min=segment.spend_min, spend_max=segment.spend_max,
        category_id=segment.category_id, category_bought=segment.category_mode == Segment.CategoryMode.BOUGHT)


def _local_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _distance_km(lat: float, lng: float):
    """Haversine distance of each customer from (lat, lng) as an SQL expression."""
    lat0, lng0 = math.radians(lat), math.radians(lng)
    phi = Radians(Cast("latitude", FloatField()))
    lam = Radians(Cast("longitude", FloatField()))
    a = Power(Sin((phi - lat0) / 2), 2) + math.cos(lat0) * Cos(phi) * Power(Sin((lam - lng0) / 2), 2)
    return 2 * EARTH_RADIUS_KM * ASin(Sqrt(a))


def segment_queryset(filters: SegmentFilters):
    """The customers the filters select (a Customer queryset, unordered)."""
    from customers.models import Customer

    customers = Customer.objects.order_by()
    for tag_ids in filters.tag_ids_by_group.values():
        customers = customers.filter(Exists(CustomerTag.objects.filter(customer=OuterRef("pk"), tag_id__in=tag_ids)))
    if filters.rep_ids:
        customers = customers.filter(rep_id__in=filters.rep_ids)
    if filters.districts:
        customers = customers.filter(district__in=filters.districts)
    if filters.near is not None:
        lat, lng, radius = filters.near
        if not (-90 <= lat <= 90 and -180 <= lng <= 180 and 0 < radius <= MAX_RADIUS_KM):
            raise ValidationFailed("位置或半径无效", code="invalid_location")
        dlat = radius / 111.0
        dlng = radius / (111.0 * max(math.cos(math.radians(lat)), 0.01))
        customers = (customers.filter(
            latitude__gte=Decimal(f"{lat - dlat:.6f}"), latitude__lte=Decimal(f"{lat + dlat:.6f}"),
            longitude__gte=Decimal(f"{lng - dlng:.6f}"), longitude__lte=Decimal(f"{lng + dlng:.6f}"))
            .alias(distance=_distance_km(lat, lng)).filter(distance__lte=radius))
    if filters.churn_statuses:
        customers = customers.filter(status__in=filters.churn_statuses)
    if filters.last_order_from:
        customers = customers.filter(last_order_at__gte=_local_start(filters.last_order_from))
    if filters.last_order_to:
        customers = customers.filter(last_order_at__lt=_local_start(filters.last_order_to + timedelta(days=1)))
    if filters.spend_min or filters.spend_max is not None:
        totals = CustomerSpend.objects.filter(category__isnull=True)
        if filters.spend_min:  # above zero: only customers with spend can reach it
            customers = customers.filter(pk__in=totals.filter(amount__gte=filters.spend_min).values("customer_id"))
        if filters.spend_max is not None:
            customers = customers.exclude(Exists(totals.filter(customer=OuterRef("pk"), amount__gt=filters.spend_max)))
    if filters.category_id:
        # EXISTS / NOT EXISTS, never NOT IN: PostgreSQL cannot turn `NOT IN (subquery)` into an
        # anti-join, and at 500,000 customers it re-ran the subquery per customer (30 s and more).
        bought = Exists(CustomerSpend.objects.filter(
            Q(category_id=filters.category_id) | Q(category__parent_id=filters.category_id), customer=OuterRef("pk")))
        customers = customers.filter(bought) if filters.category_bought else customers.exclude(bought)
    return customers


def _filters_of(segment_or_filters) -> SegmentFilters:
    return segment_or_filters if isinstance(segment_or_filters, SegmentFilters) else segment_filters(segment_or_filters)


def segment_customer_ids(segment_or_filters):
    """The ids of the customers in the segment, now: a lazy queryset (iterate it, or use it as
    `Customer.objects.filter(pk__in=segment_customer_ids(segment))`)."""
    return segment_queryset(_filters_of(segment_or_filters)).values_list("pk", flat=True)


def segment_count(segment_or_filters) -> int:
    """How many customers the segment holds now (one COUNT of the same query)."""
    return segment_queryset(_filters_of(segment_or_filters)).count()


def segment_funnel(segment_or_filters) -> dict:
    """What the admin shows before saving: all customers, and how many the filters keep
    ("500 位客户 → 50 位")."""
    from customers.models import Customer

    return {"total": Customer.objects.count(), "count": segment_count(segment_or_filters)}

