"""Lost-item alert: a customer who still orders has stopped buying a product they bought regularly.

The rule (`lost_item`, pure; the nightly SQL is tested to agree with it on generated histories):
for a customer and a product, over the usual list's window (UsualSettings.window_days, default 90
days back from now), count the paid, not cancelled orders that had the product (`times`) and take
the first and last of them (`first`, `last`). The product is lost when all of these hold:
- it was bought regularly: `times` >= `lost_min_times` (default 4);
- its usual interval is `(last - first) / (times - 1)`, and the silence `now - last` is longer
  than `lost_multiplier` (default 3.0) × that interval, and longer than `lost_min_silence_days`
  (default 14) — strictly: exactly at the threshold is not lost yet;
- the customer still orders: their last paid order (Customer.last_order_at, kept at each payment)
  is after `last` (they have ordered since, without it) and not older than the churn rule's
  `churn_days` (a customer silent that long is the churn sweep's business, not this one's).

Compared exactly, in integer microseconds and tenths of the multiplier:
`10 × silence × (times − 1) > tenths × (last − first)`.

It fires once per customer, product and last purchase (LostItemAlert's unique constraint): the
next nights find the same row and add nothing; once the product is bought again its last purchase
changes, so it may fire again when that purchase, in turn, is long past. Each new alert is a line in
the rep's inbox ("火锅城 3 周没买 虾滑 了，之前每周 2 次"), and admin lists them (断购提醒).

The sweep is set-based on PostgreSQL, a handful of statements whatever the night's count: the
selection (one pass over the window's paid lines grouped by customer and product, the customer's
filters applied to the aggregate) as CREATE TEMP TABLE … AS, so that PostgreSQL may run it in
parallel like a plain SELECT (it never does for INSERT … SELECT); the alerts inserted from it, ON
CONFLICT DO NOTHING (the ones already there skipped); the reps' inbox lines by one INSERT … SELECT
through the outbox's set-based API, their words built in SQL exactly as alert_text() builds them
(tested on many alerts). Nothing is read into Python: memory is flat. On SQLite (`make run`) the
same aggregate is read through the ORM, the pure rule and alert_text() applied in Python.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from catalog.models import Product
from core.sql import column, table
from customers.models import ChurnSettings, Customer
from orders.models import Order, OrderLine

from .models import LostItemAlert, UsualSettings

logger = logging.getLogger(__name__)
MICROSECONDS = 1_000_000
CHUNK = 1000  # alerts read and announced at a time: the sweep's memory does not grow with the night's count


@dataclass(frozen=True)
class LostRules:
    window_days: int
    min_times: int
    tenths: int  # lost_multiplier × 10
    min_silence: timedelta
    churn_days: int

    @classmethod
    def current(cls) -> "LostRules":
        usual, churn = UsualSettings.current(), ChurnSettings.current()
        return cls(window_days=usual.window_days, min_times=usual.lost_min_times,
                   tenths=int(usual.lost_multiplier * 10), min_silence=timedelta(days=usual.lost_min_silence_days),
                   churn_days=churn.churn_days)


def _micro(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * MICROSECONDS + delta.microseconds


def lost_item(*, times: int, first: datetime, last: datetime, customer_last_order: datetime | None,
              now: datetime, rules: LostRules) -> bool:
    """Is this product lost for this customer at `now`? (see the module's rule)"""
    if times < rules.min_times:
        return False
    silence = now - last
    if silence <= rules.min_silence:
        return False
    if customer_last_order is None or customer_last_order <= last:
        return False
    if customer_last_order < now - timedelta(days=rules.churn_days):
        return False
    return 10 * _micro(silence) * (times - 1) > rules.tenths * _micro(last - first)


def usual_interval(*, times: int, first: datetime, last: datetime) -> timedelta:
    return (last - first) / (times - 1)


@dataclass(frozen=True)
class LostSweepResult:
    night: object
    new_alerts: int
    notified_reps: int


def lost_items_sweep(*, now: datetime | None = None) -> LostSweepResult:
    """Find tonight's lost items, record each once, tell the reps. Safe to run twice."""
    now = now or timezone.now()
    night = timezone.localdate(now)
    rules = LostRules.current()
    with transaction.atomic():
        # Only this run's alerts are announced: a rerun reads nothing back.
        after_id = LostItemAlert.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        if connection.vendor == "postgresql":
            created = _insert_set_based(rules=rules, now=now, night=night)
        else:
            created = _insert_in_python(rules=rules, now=now, night=night)
        notify = _notify_reps_sql if connection.vendor == "postgresql" else _notify_reps
        reps = notify(after_id=after_id, night=night, window_days=rules.window_days) if created else 0
    logger.info("lost-item sweep %s: %s new alerts, %s reps told", night, created, reps)
    return LostSweepResult(night=night, new_alerts=created, notified_reps=reps)


def _window_lines_sql() -> str:
    """Per customer and product, over the window: times, first, last (paid, not cancelled)."""
    o, line = table(Order), table(OrderLine)
    paid_at = f"o.{column(Order, 'paid_at')}"
    return (
        f"SELECT o.{column(Order, 'customer_id')} AS customer_id, l.{column(OrderLine, 'product_id')} AS product_id, "
        f"count(*) AS times, min({paid_at}) AS first, max({paid_at}) AS last "
        f"FROM {line} l JOIN {o} o ON o.{column(Order, 'id')} = l.{column(OrderLine, 'order_id')} "
        f"WHERE {paid_at} >= %(since)s AND {paid_at} <= %(now)s AND o.{column(Order, 'status')} <> %(cancelled)s "
        f"GROUP BY 1, 2 HAVING count(*) >= %(min_times)s"
    )


def lost_items_select_sql() -> str:
    """The rule in SQL: the rows the sweep inserts (also what bench/lost_items.py measures)."""
    c = table(Customer)
    last_order = f"c.{column(Customer, 'last_order_at')}"
    bought = _window_lines_sql()
    return (
        f"SELECT b.customer_id, b.product_id, c.{column(Customer, 'rep_id')} AS rep_id, b.times, b.first, b.last, "
        f"(b.last - b.first) / (b.times - 1) AS usual_interval "
        f"FROM ({bought}) b JOIN {c} c ON c.{column(Customer, 'id')} = b.customer_id "
        f"WHERE b.last < %(quiet_since)s AND {last_order} > b.last AND {last_order} >= %(active_since)s "
        # 10 × silence × (times − 1) > tenths × (last − first), in whole microseconds (numeric: exact).
        f"AND 10 * (extract(epoch FROM %(now)s - b.last) * 1000000) * (b.times - 1) "
        f"> %(tenths)s * (extract(epoch FROM b.last - b.first) * 1000000)"
    )


def lost_items_params(*, rules: LostRules, now: datetime) -> dict:
    return {"since": now - timedelta(days=rules.window_days), "now": now, "cancelled": Order.Status.CANCELLED,
            "min_times": rules.min_times, "quiet_since": now - rules.min_silence,
            "active_since": now - timedelta(days=rules.churn_days), "tenths": rules.tenths}


def _insert_set_based(*, rules: LostRules, now: datetime, night) -> int:
    """Two statements. The selection runs as CREATE TEMP TABLE … AS, a plain query PostgreSQL may
    run in parallel like the raw aggregate (an INSERT … SELECT never is); the alerts are then
    inserted from that small table, the ones already there skipped by the unique constraint."""
    a = table(LostItemAlert)
    names = ("customer_id", "product_id", "rep_id", "times", "first_bought_at", "last_bought_at", "usual_interval",
             "night", "created_at")
    columns = ", ".join(column(LostItemAlert, name) for name in names)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.usuals_lost_found")
        cursor.execute(f"CREATE TEMP TABLE usuals_lost_found ON COMMIT DROP AS {lost_items_select_sql()}",
                       lost_items_params(rules=rules, now=now))
        cursor.execute(
            f"INSERT INTO {a} ({columns}) SELECT s.customer_id, s.product_id, s.rep_id, s.times, s.first, s.last, "
            "s.usual_interval, %(night)s, %(now)s FROM usuals_lost_found s ORDER BY s.customer_id, s.product_id "
            "ON CONFLICT DO NOTHING",
            {"night": night, "now": now})
        created = cursor.rowcount
        cursor.execute("DROP TABLE pg_temp.usuals_lost_found")
        return created


def _insert_in_python(*, rules: LostRules, now: datetime, night) -> int:
    """SQLite (`make run`, demo sizes): the same aggregate through the ORM, the pure rule in Python."""
    rows = (OrderLine.objects.filter(order__paid_at__gte=now - timedelta(days=rules.window_days),
                                     order__paid_at__lte=now)
            .exclude(order__status=Order.Status.CANCELLED)
            .values("order__customer_id", "product_id")
            .annotate(times=Count("pk"), first=Min("order__paid_at"), last=Max("order__paid_at"))
            .filter(times__gte=rules.min_times).order_by())
    customers = dict(Customer.objects.filter(last_order_at__gte=now - timedelta(days=rules.churn_days))
                     .values_list("pk", "last_order_at"))
    reps = dict(Customer.objects.filter(pk__in=list(customers)).values_list("pk", "rep_id"))
    alerts = [
        LostItemAlert(customer_id=row["order__customer_id"], product_id=row["product_id"],
                      rep_id=reps.get(row["order__customer_id"]), times=row["times"], first_bought_at=row["first"],
                      last_bought_at=row["last"], night=night,
                      usual_interval=usual_interval(times=row["times"], first=row["first"], last=row["last"]))
        for row in rows
        if lost_item(times=row["times"], first=row["first"], last=row["last"],
                     customer_last_order=customers.get(row["order__customer_id"]), now=now, rules=rules)]
    before = LostItemAlert.objects.count()
    LostItemAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    return LostItemAlert.objects.count() - before


def silence_text(days: int) -> str:
    """"3 周" from 14 days on (whole weeks), "10 天" below."""
    return f"{days // 7} 周" if days >= 14 else f"{days} 天"


def frequency_text(interval: timedelta) -> str:
    """How often it was bought: "每周 2 次" up to weekly, "每 10 天 1 次" beyond."""
    days = interval.total_seconds() / 86_400
    if days <= 0:
        return "每天都买"
    per_week = 7 / days
    if per_week >= 0.95:
        return f"每周 {max(1, round(per_week))} 次"
    return f"每 {round(days)} 天 1 次"


def alert_text(*, customer_name: str, product_name: str, last_bought_at: datetime, interval: timedelta,
               times: int, night, window_days: int) -> tuple[str, str]:
    """The inbox line: ("火锅城 3 周没买 虾滑 了，之前每周 2 次", "上次购买 11-02，近 90 天买过 12 次")."""
    last_day = timezone.localdate(last_bought_at)
    title = f"{customer_name} {silence_text((night - last_day).days)}没买 {product_name} 了，之前{frequency_text(interval)}"
    body = f"上次购买 {last_day:%m-%d}，近 {window_days} 天买过 {times} 次"
    return title, body


def _alert_text_sql() -> tuple[str, str]:
    """alert_text() in SQL over an alert `a`, its customer `c` and product `p`: (title, body).
    The same words from the same numbers (tests/usuals/test_lost_items.py compares them on many):
    the silence in whole Shanghai days from the night (`%(night)s`), the frequency from the interval
    in seconds as a double, rounded half to even as Python's round() does (PostgreSQL's round of a
    double is rint)."""
    c, p = column(Customer, "name"), column(Product, "name")
    last_day = f"(a.{column(LostItemAlert, 'last_bought_at')} AT TIME ZONE %(time_zone)s)::date"
    silent = f"(%(night)s::date - {last_day})"
    silence = f"CASE WHEN {silent} >= 14 THEN ({silent} / 7) || ' 周' ELSE {silent} || ' 天' END"
    days = f"(extract(epoch FROM a.{column(LostItemAlert, 'usual_interval')})::float8 / 86400)"
    frequency = (f"CASE WHEN {days} <= 0 THEN '每天都买' "
                 f"WHEN 7 / {days} >= 0.95 THEN '每周 ' || greatest(1, round(7 / {days}))::bigint || ' 次' "
                 f"ELSE '每 ' || round({days})::bigint || ' 天 1 次' END")
    title = f"c.{c} || ' ' || {silence} || '没买 ' || p.{p} || ' 了，之前' || {frequency}"
    body = (f"'上次购买 ' || to_char({last_day}, 'MM-DD') || '，近 ' || %(window_days)s || ' 天买过 ' "
            f"|| a.{column(LostItemAlert, 'times')} || ' 次'")
    return title, body


def _notify_reps_sql(*, after_id: int, night, window_days: int) -> int:
    """PostgreSQL: the inbox lines of the new alerts (id above `after_id`) written by one INSERT …
    SELECT through the outbox's set-based API; nothing is read into Python, whatever the count."""
    from notifications.services import notify_many_from_sql

    title, body = _alert_text_sql()
    a, customer_id, rep_id = "a", f"a.{column(LostItemAlert, 'customer_id')}", f"a.{column(LostItemAlert, 'rep_id')}"
    select = (
        f"SELECT 'lost-item:' || {a}.{column(LostItemAlert, 'id')} AS event_key, 'rep' AS recipient_kind, "
        f"{rep_id}::text AS recipient_id, 'inbox' AS channel, 'lost_item' AS template, {title} AS title, "
        f"{body} AS body, '/rep/customers/' || {customer_id} || '/' AS link, "
        f"jsonb_build_object('customer_id', {customer_id}) AS data, '' AS address "
        f"FROM {table(LostItemAlert)} a JOIN {table(Customer)} c ON c.{column(Customer, 'id')} = {customer_id} "
        f"JOIN {table(Product)} p ON p.{column(Product, 'id')} = a.{column(LostItemAlert, 'product_id')} "
        f"WHERE a.{column(LostItemAlert, 'id')} > %(after_id)s AND {rep_id} IS NOT NULL")
    notify_many_from_sql(select, {"after_id": after_id, "night": night, "window_days": window_days,
                                  "time_zone": timezone.get_current_timezone_name()})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT {rep_id}) FROM {table(LostItemAlert)} a "
                       f"WHERE a.{column(LostItemAlert, 'id')} > %s AND {rep_id} IS NOT NULL", [after_id])
        return cursor.fetchone()[0]


def _notify_reps(*, after_id: int, night, window_days: int) -> int:
    """An inbox line per new alert (id above `after_id`) to the customer's rep. Unique per alert: a
    rerun sends nothing twice. In bulk, like the churn alerts."""
    from notifications.services import notify_many

    rows = (LostItemAlert.objects.filter(pk__gt=after_id, rep__isnull=False)
            .values_list("pk", "rep_id", "customer_id", "customer__name", "product__name", "last_bought_at",
                         "usual_interval", "times").order_by("rep_id", "pk"))
    items, reps = [], set()
    for pk, rep_id, customer_id, customer_name, product_name, last, interval, times in rows.iterator(
            chunk_size=CHUNK):
        title, body = alert_text(customer_name=customer_name, product_name=product_name, last_bought_at=last,
                                 interval=interval, times=times, night=night, window_days=window_days)
        items.append({"event_key": f"lost-item:{pk}", "recipient_kind": "rep", "recipient_id": rep_id,
                      "channel": "inbox", "template": "lost_item", "title": title, "body": body,
                      "link": f"/rep/customers/{customer_id}/", "data": {"customer_id": customer_id}})
        reps.add(rep_id)
        if len(items) == CHUNK:
            notify_many(items)
            items = []
    notify_many(items)
    return len(reps)
