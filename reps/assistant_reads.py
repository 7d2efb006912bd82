"""The assistant page's data reads (summary, customers, inbox) without DRF, one statement each.

Opening the rep assistant calls these three (and `summary` again every 30 s while it is open).
Through DRF each cost several statements and most of a millisecond of framework work; here each
is a plain view: the session and the rep come from Django's own middleware (one cached session
read, one query for the user with the rep: core.auth.UserWithRoleBackend), the data from ONE
statement prepared once per connection (core.sql.Prepared), and the JSON is written with DRF's
own encoder, so the bytes are those of the DRF views in reps/api.py, which stay the schema and
answer everything unusual: another method, a page that is not a plain number or out of range,
and anyone who is not an active rep (their 403 in the usual error shape).

The figures are the rules of reps.selectors (`rep_summary`, `rep_customers`, the inbox query):
the statements below are tested to agree with them on generated data
(tests/reps/test_assistant_reads.py), and on SQLite (`make run`) the selectors answer.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache

from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.utils.encoders import JSONEncoder

from core.api import page_links
from core.errors import ApplicationError
from core.schema import documented_by
from core.sql import Prepared, column, table
from customers.models import ChurnEvent, Customer
from notifications.models import Notification
from orders.models import Order, Refund

from . import selectors
from .models import EntryEvent

CUSTOMERS_PAGE_SIZE = 30  # reps.api.CustomerPagination
INBOX_LIMIT = 50
_ALLOW = "GET, HEAD, OPTIONS"


def _dumps(value) -> str:
    # DRF's JSONRenderer with its defaults: its encoder (datetimes as ISO 8601 with Z), compact, UTF-8.
    return json.dumps(value, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _money(value) -> str:
    return f"{value:.2f}"


def _sql_list(values) -> str:
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


@lru_cache(maxsize=None)
def _summary_statement() -> Prepared:
    entry, customer, churn, order, refund = (table(m) for m in (EntryEvent, Customer, ChurnEvent, Order, Refund))
    # Today's sales and GMV: orders.gmv's rule (paid, net of refunds not failed; a full refund no
    # sale), tested equal to selectors.rep_summary, which calls orders.gmv.with_gmv.
    lapsing = _sql_list([Customer.Status.CHURNED, Customer.Status.AT_RISK])
    sql = f"""
        SELECT
          (SELECT array_agg(ARRAY[e.kind, e.today::text, e.week::text])
             FROM (SELECT {column(EntryEvent, 'scene_kind')} AS kind,
                          count(*) FILTER (WHERE {column(EntryEvent, 'created_at')} >= %(today)s) AS today,
                          count(*) AS week
                     FROM {entry}
                    WHERE {column(EntryEvent, 'rep')} = %(rep)s AND {column(EntryEvent, 'created_at')} >= %(week)s
                    GROUP BY 1) e),
          (SELECT count(*) FROM {customer} WHERE {column(Customer, 'rep')} = %(rep)s),
          (SELECT count(*) FROM {customer} WHERE {column(Customer, 'rep')} = %(rep)s
              AND {column(Customer, 'acquired_by')} = %(rep)s AND {column(Customer, 'acquired_at')} >= %(week)s),
          (SELECT count(*) FROM {churn} WHERE {column(ChurnEvent, 'rep')} = %(rep)s
              AND {column(ChurnEvent, 'kind')} = '{ChurnEvent.Kind.REACTIVATED}'
              AND {column(ChurnEvent, 'night')} >= %(month)s),
          (SELECT count(*) FROM {customer} WHERE {column(Customer, 'rep')} = %(rep)s
              AND {column(Customer, 'status')} IN ({lapsing})),
          o.n, o.gmv
        FROM (SELECT count(*) FILTER (WHERE g.gmv > 0) AS n, coalesce(sum(g.gmv), 0) AS gmv
                FROM (SELECT greatest(t.{column(Order, 'total')} - coalesce(
                               (SELECT sum(r.{column(Refund, 'amount')}) FROM {refund} r
                                 WHERE r.{column(Refund, 'order')} = t.{column(Order, 'id')}
                                   AND r.{column(Refund, 'status')} <> '{Refund.Status.FAILED}'), 0), 0) AS gmv
                        FROM {order} t
                       WHERE t.{column(Order, 'rep')} = %(rep)s AND t.{column(Order, 'paid_at')} >= %(today)s) g) o
    """
    return Prepared.named("reps_assistant_summary", sql,
                          {"rep": "bigint", "today": "timestamptz", "week": "timestamptz", "month": "date"})


def summary_figures(*, rep, now=None) -> dict:
    """`selectors.rep_summary` in one statement on PostgreSQL (the selector elsewhere)."""
    if connection.vendor != "postgresql":
        return selectors.rep_summary(rep=rep, now=now)
    now = now or timezone.now()
    today_start, _ = selectors.local_day_bounds(timezone.localdate(now))
    week_start = today_start - timedelta(days=timezone.localtime(now).weekday())
    month_start = timezone.localdate(now).replace(day=1)
    statement = _summary_statement()
    with connection.cursor() as cursor:
        statement.execute(cursor, statement.arguments(
            {"rep": rep.pk, "today": today_start, "week": week_start, "month": month_start}))
        entries, customers, new_week, won_back, lapsing, orders_today, gmv = cursor.fetchone()
    today, week = dict.fromkeys(selectors.SCENE_KINDS, 0), dict.fromkeys(selectors.SCENE_KINDS, 0)
    for kind, on_day, in_week in entries or ():
        today[kind], week[kind] = int(on_day), int(in_week)
    return {"entries_today": today, "entries_week": week, "customers": customers, "new_customers_week": new_week,
            "won_back_month": won_back, "lapsing": lapsing, "orders_today": orders_today, "gmv_today": gmv}


def summary_body(rep, now=None) -> dict:
    """What GET /api/v1/rep/summary answers (reps.api.SummaryApi)."""
    summary = summary_figures(rep=rep, now=now)
    summary["gmv_today"] = _money(summary["gmv_today"])
    summary["rep"] = {"id": rep.pk, "name": rep.name, "key": rep.key, "scene": rep.scene}
    return summary


_CUSTOMER_FIELDS = ("id", "name", "contact_name", "phone", "district", "address", "created_at", "last_order_at")


@lru_cache(maxsize=None)
def _customers_statement() -> Prepared:
    customer, order = table(Customer), table(Order)
    fields = ", ".join(f"c.{column(Customer, name)}" for name in _CUSTOMER_FIELDS)
    sql = f"""
        SELECT {fields},
               coalesce((SELECT sum(o.{column(Order, 'total')}) FROM {order} o
                          WHERE o.{column(Order, 'customer')} = c.{column(Customer, 'id')}
                            AND o.{column(Order, 'paid_at')} IS NOT NULL), 0),
               c.{column(Customer, 'acquired_by')} IS NOT DISTINCT FROM c.{column(Customer, 'rep')},
               (SELECT count(*) FROM {customer} WHERE {column(Customer, 'rep')} = %(rep)s)
          FROM {customer} c
         WHERE c.{column(Customer, 'rep')} = %(rep)s
         ORDER BY c.{column(Customer, 'created_at')} DESC, c.{column(Customer, 'id')} DESC
         LIMIT %(limit)s OFFSET %(offset)s
    """
    return Prepared.named("reps_assistant_customers", sql, {"rep": "bigint", "limit": "bigint", "offset": "bigint"})


def customer_page(*, rep, number: int, size: int = CUSTOMERS_PAGE_SIZE) -> tuple[int, list[dict]] | None:
    """(count, rows) of page `number` of the rep's customers, newest first, as reps.api writes
    each row (`_customer_row`); None for a page beyond the last (the DRF view answers its 404)."""
    if connection.vendor != "postgresql":
        from .api import _customer_row

        customers = selectors.rep_customers(rep=rep)
        count = customers.count()
        rows = [_customer_row(c) for c in customers[(number - 1) * size:number * size]]
    else:
        statement = _customers_statement()
        with connection.cursor() as cursor:
            statement.execute(cursor, statement.arguments({"rep": rep.pk, "limit": size, "offset": (number - 1) * size}))
            fetched = cursor.fetchall()
        count = fetched[0][-1] if fetched else 0
        rows = [{**dict(zip(_CUSTOMER_FIELDS, row[:8])), "total_spend": _money(row[8]), "acquired_by_me": row[9]}
                for row in fetched]
    if not rows and number > 1:
        return None
    return count, rows


@lru_cache(maxsize=None)
def _inbox_statement() -> Prepared:
    sql = f"""
        SELECT {column(Notification, 'id')}, {column(Notification, 'title')}, {column(Notification, 'body')},
               {column(Notification, 'link')}, {column(Notification, 'template')},
               {column(Notification, 'created_at')}, {column(Notification, 'read_at')} IS NOT NULL
          FROM {table(Notification)}
         WHERE {column(Notification, 'recipient_kind')} = 'rep' AND {column(Notification, 'recipient_id')} = %(rep)s
           AND {column(Notification, 'channel')} = 'inbox'
         ORDER BY {column(Notification, 'created_at')} DESC, {column(Notification, 'id')} DESC
         LIMIT {INBOX_LIMIT}
    """
    return Prepared.named("reps_assistant_inbox", sql, {"rep": "text"})


def inbox_messages(*, rep) -> list[dict]:
    """The rep's inbox, newest first (at most INBOX_LIMIT), as reps.api.InboxApi writes it."""
    keys = ("id", "title", "body", "link", "template", "created_at", "read")
    if connection.vendor != "postgresql":
        return [dict(zip(keys, (n.pk, n.title, n.body, n.link, n.template, n.created_at, n.read_at is not None)))
                for n in selectors.rep_inbox(rep=rep)[:INBOX_LIMIT]]
    statement = _inbox_statement()
    with connection.cursor() as cursor:
        statement.execute(cursor, statement.arguments({"rep": str(rep.pk)}))
        return [dict(zip(keys, row)) for row in cursor.fetchall()]


def _page_number(raw) -> int | None:
    if raw in (None, ""):
        return 1
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**9 else None


def _json(value) -> HttpResponse:
    response = HttpResponse(_dumps(value), content_type="application/json")
    response["Allow"] = _ALLOW
    return response


def assistant_read(schema_view):
    """A plain GET view for the active rep, with `schema_view` (the DRF view) as its schema and
    its answer to anything else. The decorated function returns the body's data, or None to
    hand the request to the DRF view."""
    drf_view = schema_view.as_view()

    def decorate(build):
        @csrf_exempt  # as DRF's views are (SessionAuthentication checks CSRF itself on writes)
        def view(request, *args, **kwargs):
            if request.method != "GET":
                return drf_view(request, *args, **kwargs)
            try:
                rep = selectors.rep_for_user(request.user)
                data = build(request, rep)
            except ApplicationError:
                data = None
            return drf_view(request, *args, **kwargs) if data is None else _json(data)

        view.__name__ = view.__qualname__ = build.__name__
        view.__doc__ = build.__doc__
        return documented_by(schema_view, falls_back=True)(view)

    return decorate


def customers_body(request, rep) -> dict | None:
    number = _page_number(request.GET.get("page"))
    if number is None:
        return None
    page = customer_page(rep=rep, number=number)
    if page is None:
        return None
    count, rows = page
    return {"count": count, **page_links(request, number, number * CUSTOMERS_PAGE_SIZE < count), "results": rows}
