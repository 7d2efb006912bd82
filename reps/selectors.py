"""Reads for the rep assistant and the company's oversight of reps."""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, DecimalField, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from core.errors import NotFound, PermissionDenied
from customers.models import Customer
from orders.gmv import with_gmv
from orders.models import Order

from .models import EntryEvent, Rep, Scene, VisitNote, WeComContact, WeComContactEvent

SCENE_KINDS = [kind for kind, _ in Scene.CHOICES]
WECOM_ADDED = ("add_external_contact",)
WECOM_REMOVED = ("del_external_contact", "del_follow_user")
# Entered through a picture of the code or a chat card: the rep may have sent it instead of visiting.
SENT_SCENE_KINDS = (Scene.FORWARDED_IMAGE, Scene.SHARE_CARD)
SENT_WITHOUT_WECOM_LIMIT = 500


def rep_for_user(user) -> Rep:
    """The active rep behind a login; anyone else (or a rep who left) is refused."""
    rep = getattr(user, "rep", None) if getattr(user, "is_authenticated", False) else None
    if rep is None or not rep.is_active or not user.is_active:
        raise PermissionDenied("仅限在职业务员使用", code="not_a_rep")
    return rep


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    return start, start + timedelta(days=1)


def entries_by_scene(*, rep: Rep, since: datetime) -> dict[str, int]:
    counts = dict.fromkeys(SCENE_KINDS, 0)
    rows = EntryEvent.objects.filter(rep=rep, created_at__gte=since).values("scene_kind").annotate(n=Count("id"))
    for row in rows:
        counts[row["scene_kind"]] = row["n"]
    return counts


def rep_summary(*, rep: Rep, now: datetime | None = None) -> dict:
    """The assistant's home: entries today and this week by scene, customers, today's orders."""
    now = now or timezone.now()
    today_start, _ = local_day_bounds(timezone.localdate(now))
    week_start = today_start - timedelta(days=timezone.localtime(now).weekday())
    customer_counts = Customer.objects.filter(rep=rep).aggregate(
        total=Count("id"), new_this_week=Count("id", filter=Q(acquired_by=rep, acquired_at__gte=week_start)))
    from customers.models import ChurnEvent

    month_start = timezone.localdate(now).replace(day=1)
    won_back_month = ChurnEvent.objects.filter(rep=rep, kind=ChurnEvent.Kind.REACTIVATED,
                                               night__gte=month_start).count()
    # Today's sales and GMV by the one rule (orders.gmv): net of refunds, a full refund no sale.
    orders_today = with_gmv(Order.objects.filter(rep=rep, paid_at__gte=today_start)).order_by().aggregate(
        n=Count("id", filter=Q(gmv__gt=0)), total_gmv=Coalesce(Sum("gmv"), Value(0, output_field=DecimalField())))
    return {
        "entries_today": entries_by_scene(rep=rep, since=today_start),
        "entries_week": entries_by_scene(rep=rep, since=week_start),
        "customers": customer_counts["total"],
        "new_customers_week": customer_counts["new_this_week"],
        "won_back_month": won_back_month,
        "lapsing": Customer.objects.filter(rep=rep).lapsing().count(),
        "orders_today": orders_today["n"],
        "gmv_today": orders_today["total_gmv"],
    }


def rep_customers(*, rep: Rep):
    """My customers, newest first, each with total spend — the GMV of their orders (orders.gmv:
    paid, net of refunds not failed): one query per page."""
    spend = (
        with_gmv(Order.objects.filter(customer=OuterRef("pk"))).order_by().values("customer")
        .annotate(s=Sum("gmv")).values("s")
    )
    return (
        Customer.objects.filter(rep=rep)
        .annotate(total_spend=Coalesce(Subquery(spend), Value(0, output_field=DecimalField(max_digits=14, decimal_places=2))))
        .order_by("-created_at", "-id")
    )


def rep_inbox(*, rep: Rep):
    """My inbox lines (churn alerts and the like), newest first."""
    from notifications.models import Notification

    return (Notification.objects.filter(recipient_kind="rep", recipient_id=str(rep.pk), channel="inbox")
            .order_by("-created_at", "-id"))


def rep_wecom_contacts(*, rep: Rep, limit: int = 100) -> tuple[list, int]:
    """The rep's WeCom contacts, latest added first (with their restaurant), and how many are active."""
    contacts = list(WeComContact.objects.filter(rep=rep).select_related("customer")
                    .only("id", "name", "status", "added_at", "removed_at", "customer_id", "customer__name")
                    .order_by("-added_at", "-id")[:limit])
    active = WeComContact.objects.filter(rep=rep, status=WeComContact.Status.ACTIVE).count()
    return contacts, active


def rep_order_feed(*, rep: Rep, after: datetime | None = None, limit: int = 30):
    """Paid orders of my customers, newest first; `after` for polling. One indexed query."""
    orders = Order.objects.filter(rep=rep, paid_at__isnull=False)
    if after is not None:
        orders = orders.filter(paid_at__gt=after)
    return list(orders.order_by("-paid_at").only(
        "id", "number", "restaurant_name", "total", "status", "paid_at", "delivery_date", "customer_id")[:limit])


def rep_customer_detail(*, rep: Rep, customer_id: int) -> tuple[Customer, list[Order], list[VisitNote]]:
    customer = Customer.objects.filter(pk=customer_id, rep=rep).first()
    if customer is None:
        raise NotFound("客户不存在或不归您负责", code="customer_not_found")
    orders = list(Order.objects.filter(customer=customer).order_by("-created_at")[:50])
    notes = list(VisitNote.objects.filter(customer=customer).select_related("rep")[:50])
    return customer, orders, notes


def rep_daily_stats(*, day_from: date, day_to: date) -> list[dict]:
    """Per rep and per local day: entries by scene, new customers, first orders, GMV. Few queries."""
    start, _ = local_day_bounds(day_from)
    _, end = local_day_bounds(day_to)
    rows: dict[tuple[int, date], dict] = {}

    def row(rep_id, day):
        return rows.setdefault((rep_id, day), {
            "rep_id": rep_id, "day": day, "entries": dict.fromkeys(SCENE_KINDS, 0), "new_customers": 0,
            "first_orders": 0, "gmv": 0, "orders": 0, "churned": 0, "won_back": 0, "wecom_added": 0,
            "wecom_removed": 0})

    entries = (EntryEvent.objects.filter(rep__isnull=False, created_at__gte=start, created_at__lt=end)
               .annotate(day=TruncDate("created_at")).values("rep_id", "day", "scene_kind").annotate(n=Count("id")))
    for item in entries:
        row(item["rep_id"], item["day"])["entries"][item["scene_kind"]] = item["n"]
    acquired = (Customer.objects.filter(acquired_by__isnull=False, acquired_at__gte=start, acquired_at__lt=end)
                .annotate(day=TruncDate("acquired_at")).values("acquired_by_id", "day").annotate(n=Count("id")))
    for item in acquired:
        row(item["acquired_by_id"], item["day"])["new_customers"] = item["n"]
    # GMV and sales by the one rule (orders.gmv): paid, net of refunds; a paid order refunded in
    # full is no sale.
    sales = (with_gmv(Order.objects.filter(rep__isnull=False, paid_at__gte=start, paid_at__lt=end)).order_by()
             .annotate(day=TruncDate("paid_at")).values("rep_id", "day")
             .annotate(day_gmv=Sum("gmv"), n=Count("id", filter=Q(gmv__gt=0))))
    for item in sales:
        target = row(item["rep_id"], item["day"])
        target["gmv"], target["orders"] = item["day_gmv"], item["n"]
    from customers.models import ChurnEvent

    churn = (ChurnEvent.objects.filter(rep__isnull=False, night__gte=day_from, night__lte=day_to,
                                       kind__in=[ChurnEvent.Kind.CHURNED, ChurnEvent.Kind.REACTIVATED])
             .values("rep_id", "night", "kind").annotate(n=Count("id")))
    for item in churn:
        key = "churned" if item["kind"] == ChurnEvent.Kind.CHURNED else "won_back"
        row(item["rep_id"], item["night"])[key] = item["n"]
    # WeCom contacts the rep added (each add event, re-adds included) and lost (either side removed).
    wecom = (WeComContactEvent.objects.filter(rep__isnull=False, event_time__gte=start, event_time__lt=end,
                                              change_type__in=WECOM_ADDED + WECOM_REMOVED)
             .annotate(day=TruncDate("event_time")).values("rep_id", "day", "change_type").annotate(n=Count("id")))
    for item in wecom:
        key = "wecom_added" if item["change_type"] in WECOM_ADDED else "wecom_removed"
        row(item["rep_id"], item["day"])[key] += item["n"]
    firsts = (Order.objects.filter(rep__isnull=False, paid_at__gte=start, paid_at__lt=end).first_paid()
              .annotate(day=TruncDate("paid_at")).values("rep_id", "day").annotate(n=Count("customer_id", distinct=True)).order_by())
    for item in firsts:
        row(item["rep_id"], item["day"])["first_orders"] = item["n"]
    return sorted(rows.values(), key=lambda r: (r["day"], r["rep_id"]))


FORWARDED_SHARE_THRESHOLD = 0.5
FORWARDED_MIN_NEW = 3


WORKING_DAY_ENDS = time(18, 0)  # Shanghai: until then a rep may still scan someone today


def last_judged_day(now: datetime) -> date:
    """The latest day whose visits can be judged at `now`: today once the working day is over."""
    local = timezone.localtime(now)
    return local.date() if local.time() >= WORKING_DAY_ENDS else local.date() - timedelta(days=1)


def rep_flags(*, day_from: date, day_to: date, reps=None, now: datetime | None = None,
              stats: list[dict] | None = None) -> list[dict]:
    """Hints that a rep is not out visiting:

    - a working day (Mon–Sat) with no in-person scan at all, counted only from the day the rep
      joined (Rep.created_at, local date) and only for days that are over: today is not judged
      before 18:00 Shanghai time, and days to come never are;
    - over the period, most customers credited to the rep came in through a forwarded image
      rather than an in-person scan (at least FORWARDED_MIN_NEW credited entries).
    """
    reps = list(reps if reps is not None else Rep.objects.filter(is_active=True))
    if stats is None:  # the dashboard passes the rows it already has
        stats = rep_daily_stats(day_from=day_from, day_to=day_to)
    in_person = {(r["rep_id"], r["day"]) for r in stats if r["entries"][Scene.IN_PERSON] > 0}
    joined = {rep.pk: timezone.localdate(rep.created_at) for rep in reps}
    flags = []
    day = day_from
    last_day = min(day_to, last_judged_day(now or timezone.now()))
    while day <= last_day:
        if day.weekday() < 6:
            for rep in reps:
                if day >= joined[rep.pk] and (rep.pk, day) not in in_person:
                    flags.append({"rep_id": rep.pk, "rep": rep.name, "day": day, "kind": "no_in_person_scans",
                                  "message": f"{day:%m-%d} 没有任何当面扫码"})
        day += timedelta(days=1)
    start, _ = local_day_bounds(day_from)
    _, end = local_day_bounds(day_to)
    credited = (EntryEvent.objects.filter(credited=True, created_at__gte=start, created_at__lt=end,
                                          rep__in=reps)
                .values("rep_id").annotate(total=Count("id"),
                                           forwarded=Count("id", filter=Q(scene_kind=Scene.FORWARDED_IMAGE))))
    names = {rep.pk: rep.name for rep in reps}
    for item in credited:
        if item["total"] >= FORWARDED_MIN_NEW and item["forwarded"] / item["total"] > FORWARDED_SHARE_THRESHOLD:
            flags.append({"rep_id": item["rep_id"], "rep": names.get(item["rep_id"], ""), "day": None,
                          "kind": "mostly_forwarded",
                          "message": f"新客户 {item['forwarded']}/{item['total']} 来自长按识别图片，而非当面扫码"})
    return flags


def sent_without_wecom(*, day_from: date, day_to: date, reps) -> list[dict]:
    """Customers a rep acquired in the period through a forwarded code image (1048/1049, 1012/1013) or
    a chat share card (1007/1008/1044), whom that rep never had as a WeCom contact: the story's "I only
    added them on WeChat and sent the code". One query, whatever the number of reps or customers;
    at most SENT_WITHOUT_WECOM_LIMIT rows (rep, customer id, customer name, scene kind)."""
    start, _ = local_day_bounds(day_from)
    _, end = local_day_bounds(day_to)
    contact = WeComContact.objects.filter(rep=OuterRef("rep"), customer=OuterRef("visitor__customer"))
    rows = (EntryEvent.objects.filter(credited=True, created_at__gte=start, created_at__lt=end, rep__in=reps,
                                      scene_kind__in=SENT_SCENE_KINDS, visitor__customer__isnull=False)
            .filter(~Exists(contact))
            .values_list("rep_id", "visitor__customer_id", "visitor__customer__name", "scene_kind")
            .order_by("rep_id", "visitor__customer_id").distinct()[:SENT_WITHOUT_WECOM_LIMIT])
    return [{"rep_id": rep_id, "customer_id": customer_id, "customer": name, "scene_kind": kind}
            for rep_id, customer_id, name, kind in rows]
