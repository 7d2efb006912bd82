"""The assistant page's data reads (summary, customers, inbox) without DRF, one statement each.

Opening the rep assistant calls these three (and `summary` again every 30 s while it is open).
Through DRF each cost several statements and most of a millisecond of framework work; here each
is a plain view whose data comes from ONE statement prepared once per connection
(core.sql.Prepared), with the JSON written by DRF's own encoder, so the bytes are those of the DRF
views in reps/api.py, which stay the schema and answer everything unusual: another method, a page
that is not a plain number or out of range, and anyone who is not an active rep (their 403 in
the usual error shape).

Who is asking, two ways (the same guarantees as the feed poll, reps/feed.py):

- the page's signed feed token in `X-Feed-Token` (from /api/v1/rep/me, valid FEED_TOKEN_MAX_AGE):
  no session read and no user query. A forged, altered or expired token is refused (401
  feed_token_invalid: the page fetches a new one from /me); the statement itself checks that the
  token's rep is still active with an active login (403 not_a_rep otherwise), and every figure
  and row is the token's rep's own;
- otherwise the session, as for every other rep API (Django's middleware: one cached session read,
  one query for the user with the rep, core.auth.UserWithRoleBackend).

The figures are the rules of reps.selectors (`rep_summary`, `rep_customers`, the inbox query):
the statements below are tested to agree with them on generated data
(tests/reps/test_assistant_reads.py), and on SQLite (`make run`) the selectors answer.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache

from django.contrib.auth import get_user_model
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

from . import figures, selectors
from .feed import FEED_TOKEN_INVALID, NOT_A_REP, feed_token_read, json_error
from .models import EntryEvent, Rep, scene_of_key

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


def _for_rep(select: str, *, rows: bool) -> str:
    """`select` (which reads %(rep)s) for one rep, with the rep's check in front: its first
    columns say whether the rep is active with an active login, then its name and key. The rep's
    row always comes back (with NULLs when `select` has no row), so a rep who left is told apart."""
    user = get_user_model()
    join = "LEFT JOIN LATERAL" if rows else "CROSS JOIN LATERAL"
    return f"""
        SELECT r.{column(Rep, 'is_active')} AND coalesce(u.{column(user, 'is_active')}, false),
               r.{column(Rep, 'name')}, r.{column(Rep, 'key')}, x.*
          FROM {table(Rep)} r
          LEFT JOIN {table(user)} u ON u.{column(user, 'id')} = r.{column(Rep, 'user')}
          {join} ({select}) x {"ON TRUE" if rows else ""}
         WHERE r.{column(Rep, 'id')} = %(rep)s
    """


def _orders_today_sql() -> str:
    # Today's sales and GMV: orders.gmv's rule (paid, net of refunds not failed; a full refund no
    # sale), tested equal to selectors.rep_summary, which calls orders.gmv.with_gmv.
    order, refund = table(Order), table(Refund)
    return f"""
        SELECT count(*) FILTER (WHERE g.gmv > 0) AS n, coalesce(sum(g.gmv), 0) AS gmv
          FROM (SELECT greatest(t.{column(Order, 'total')} - coalesce(
                         (SELECT sum(r.{column(Refund, 'amount')}) FROM {refund} r
                           WHERE r.{column(Refund, 'order')} = t.{column(Order, 'id')}
                             AND r.{column(Refund, 'status')} <> '{Refund.Status.FAILED}'), 0), 0) AS gmv
                  FROM {order} t
                 WHERE t.{column(Order, 'rep')} = %(rep)s AND t.{column(Order, 'paid_at')} >= %(today)s) g
    """


@lru_cache(maxsize=None)
def _summary_statement() -> Prepared:
    """Every figure of the summary, counted (the reference for reps.figures' cached counts)."""
    entry, customer, churn = (table(m) for m in (EntryEvent, Customer, ChurnEvent))
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
        FROM ({_orders_today_sql()}) o
    """
    return Prepared.named("reps_assistant_summary", _for_rep(sql, rows=False),
                          {"rep": "bigint", "today": "timestamptz", "week": "timestamptz", "month": "date"})


@lru_cache(maxsize=None)
def _rep_statement() -> Prepared:
    """The rep's check only: the summary when reps.figures has its figures."""
    return Prepared.named("reps_assistant_rep", _for_rep("SELECT NULL", rows=False), {"rep": "bigint"})


class NotARep(Exception):
    """The rep asked about is not an active rep with an active login (the statements' own check)."""


def _rep_of(rep_id: int) -> Rep:
    """SQLite (`make run`): the rep, checked as the statements check it on PostgreSQL."""
    rep = Rep.objects.select_related("user").filter(pk=rep_id).first()
    if rep is None or not rep.is_active or rep.user is None or not rep.user.is_active:
        raise NotARep()
    return rep


def _run(statement: Prepared, values: dict, *, checked: bool = True) -> list[tuple]:
    """The statement's rows for one rep; NotARep when there is no such rep or (`checked`) its
    check (the first column) fails."""
    with connection.cursor() as cursor:
        statement.execute(cursor, statement.arguments(values))
        rows = cursor.fetchall()
    if not rows or (checked and not rows[0][0]):
        raise NotARep()
    return rows


def _summary(rep_id: int, now=None, *, checked: bool = True, cached: bool = False) -> tuple[str, str, dict]:
    """(the rep's name, key, `selectors.rep_summary`'s figures) in one statement on PostgreSQL;
    NotARep for a rep who is not active with an active login (`checked`). `cached`: the figures
    from reps.figures when it has them (the rep is checked either way)."""
    if connection.vendor != "postgresql":
        rep = _rep_of(rep_id) if checked else Rep.objects.get(pk=rep_id)
        return rep.name, rep.key, selectors.rep_summary(rep=rep, now=now)
    now = now or timezone.now()
    day = timezone.localdate(now)
    today_start, _ = selectors.local_day_bounds(day)
    kept, generation = figures.read(rep_id, day) if cached else (None, None)
    if kept is not None:
        (_, name, key, _), = _run(_rep_statement(), {"rep": rep_id}, checked=checked)
        return name, key, kept
    week_start = today_start - timedelta(days=timezone.localtime(now).weekday())
    month_start = day.replace(day=1)
    (_, name, key, entries, customers, new_week, won_back, lapsing, orders_today, gmv), = _run(
        _summary_statement(), {"rep": rep_id, "today": today_start, "week": week_start, "month": month_start},
        checked=checked)
    today, week = dict.fromkeys(selectors.SCENE_KINDS, 0), dict.fromkeys(selectors.SCENE_KINDS, 0)
    for kind, on_day, in_week in entries or ():
        today[kind], week[kind] = int(on_day), int(in_week)
    result = {"entries_today": today, "entries_week": week, "customers": customers,
              "new_customers_week": new_week, "won_back_month": won_back, "lapsing": lapsing,
              "orders_today": orders_today, "gmv_today": gmv}
    if generation is not None:
        figures.store(rep_id, day, generation, result)
    return name, key, result


def summary_figures(*, rep, now=None, cached: bool = False) -> dict:
    """`selectors.rep_summary` in one statement on PostgreSQL (the selector elsewhere), for any rep;
    `cached`: the counts from reps.figures when it has them, as the API reads them."""
    return _summary(rep.pk, now, checked=False, cached=cached)[2]


def summary_body(rep, now=None) -> dict:
    """What GET /api/v1/rep/summary answers (reps.api.SummaryApi). `rep`: a Rep or a rep id."""
    rep_id = rep if isinstance(rep, int) else rep.pk
    name, key, summary = _summary(rep_id, now, cached=True)
    summary["gmv_today"] = _money(summary["gmv_today"])
    summary["rep"] = {"id": rep_id, "name": name, "key": key, "scene": scene_of_key(key)}
    return summary


_CUSTOMER_FIELDS = ("id", "name", "contact_name", "phone", "district", "address", "created_at", "last_order_at")


@lru_cache(maxsize=None)
def _customers_statement(counted: bool = True) -> Prepared:
    """A page of the rep's customers; `counted`: each row also carries the rep's count of
    customers (without it, the count is reps.figures' cached one)."""
    # Total spend: orders.gmv's rule (paid, net of refunds not failed), tested equal to
    # selectors.rep_customers, which calls orders.gmv.with_gmv.
    customer, order, refund = table(Customer), table(Order), table(Refund)
    fields = ", ".join(f"c.{column(Customer, name)}" for name in _CUSTOMER_FIELDS)
    sql = f"""
        SELECT {fields},
               coalesce((SELECT sum(greatest(o.{column(Order, 'total')} - coalesce(
                                   (SELECT sum(r.{column(Refund, 'amount')}) FROM {refund} r
                                     WHERE r.{column(Refund, 'order')} = o.{column(Order, 'id')}
                                       AND r.{column(Refund, 'status')} <> '{Refund.Status.FAILED}'), 0), 0))
                           FROM {order} o
                          WHERE o.{column(Order, 'customer')} = c.{column(Customer, 'id')}
                            AND o.{column(Order, 'paid_at')} IS NOT NULL), 0),
               c.{column(Customer, 'acquired_by')} IS NOT DISTINCT FROM c.{column(Customer, 'rep')},
               {f"(SELECT count(*) FROM {customer} WHERE {column(Customer, 'rep')} = %(rep)s)" if counted else "NULL"}
          FROM {customer} c
         WHERE c.{column(Customer, 'rep')} = %(rep)s
         ORDER BY c.{column(Customer, 'created_at')} DESC, c.{column(Customer, 'id')} DESC
         LIMIT %(limit)s OFFSET %(offset)s
    """
    return Prepared.named("reps_assistant_customers" if counted else "reps_assistant_customers_page",
                          _for_rep(sql, rows=True),
                          {"rep": "bigint", "limit": "bigint", "offset": "bigint"})


def customer_page(*, rep, number: int, size: int = CUSTOMERS_PAGE_SIZE,
                  cached: bool = False) -> tuple[int, list[dict]] | None:
    """(count, rows) of page `number` of the rep's customers, newest first, as reps.api writes
    each row (`_customer_row`); None for a page beyond the last (the DRF view answers its 404).
    `rep`: a Rep or a rep id. `cached`: the count is reps.figures' when it has it (the summary
    counted it), else counted with the rows. (Page 1 as the API answers it: `first_page`.)"""
    rep_id = rep if isinstance(rep, int) else rep.pk
    if connection.vendor != "postgresql":
        from .api import _customer_row

        customers = selectors.rep_customers(rep=_rep_of(rep_id))
        count = customers.count()
        rows = [_customer_row(c) for c in customers[(number - 1) * size:number * size]]
    else:
        counts, _ = figures.read(rep_id, timezone.localdate()) if cached else (None, None)
        fetched = _run(_customers_statement(counts is None),
                       {"rep": rep_id, "limit": size, "offset": (number - 1) * size})
        fetched = [row[3:] for row in fetched if row[3] is not None]  # the rep's columns, and no page's NULLs
        count = counts["customers"] if counts is not None else fetched[0][-1] if fetched else 0
        rows = [{**dict(zip(_CUSTOMER_FIELDS, row[:8])), "total_spend": _money(row[8]), "acquired_by_me": row[9]}
                for row in fetched]
    if not rows and number > 1:
        return None
    return count, rows


def first_page(rep_id: int) -> tuple[int, str]:
    """(count, the rows' JSON) of page 1 of the rep's customers, as GET /api/v1/rep/customers
    answers it: kept whole in reps.figures under the figures' rule and tokens (README "How fresh
    the rep's figures are"), else `customer_page`'s live count and rows, which it then keeps.
    The rep is checked live either way (NotARep). PostgreSQL only (a shared cache)."""
    day = timezone.localdate()
    kept, generation = figures.read(rep_id, day, "page1")
    if kept is not None:
        _run(_rep_statement(), {"rep": rep_id})
        return kept
    count, rows = customer_page(rep=rep_id, number=1)
    page = count, _dumps(rows)
    if generation is not None:
        figures.store_page(rep_id, day, generation, page)
    return page


@lru_cache(maxsize=None)
def _inbox_statement() -> Prepared:
    sql = f"""
        SELECT {column(Notification, 'id')}, {column(Notification, 'title')}, {column(Notification, 'body')},
               {column(Notification, 'link')}, {column(Notification, 'template')},
               {column(Notification, 'created_at')}, {column(Notification, 'read_at')} IS NOT NULL
          FROM {table(Notification)}
         WHERE {column(Notification, 'recipient_kind')} = 'rep' AND {column(Notification, 'recipient_id')} = %(rep)s::text
           AND {column(Notification, 'channel')} = 'inbox'
         ORDER BY {column(Notification, 'created_at')} DESC, {column(Notification, 'id')} DESC
         LIMIT {INBOX_LIMIT}
    """
    return Prepared.named("reps_assistant_inbox", _for_rep(sql, rows=True), {"rep": "bigint"})


def inbox_messages(*, rep) -> list[dict]:
    """The rep's inbox, newest first (at most INBOX_LIMIT), as reps.api.InboxApi writes it.
    `rep`: a Rep or a rep id."""
    rep_id = rep if isinstance(rep, int) else rep.pk
    keys = ("id", "title", "body", "link", "template", "created_at", "read")
    if connection.vendor != "postgresql":
        return [dict(zip(keys, (n.pk, n.title, n.body, n.link, n.template, n.created_at, n.read_at is not None)))
                for n in selectors.rep_inbox(rep=_rep_of(rep_id))[:INBOX_LIMIT]]
    return [dict(zip(keys, row[3:])) for row in _run(_inbox_statement(), {"rep": rep_id}) if row[3] is not None]


def _page_number(raw) -> int | None:
    if raw in (None, ""):
        return 1
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**9 else None


def _json(value) -> HttpResponse:
    response = HttpResponse(value if isinstance(value, str) else _dumps(value), content_type="application/json")
    response["Allow"] = _ALLOW
    return response


def _as_the_tokens_rep(request, rep_id: int) -> None:
    """For the DRF view's answer to an odd request that came with a valid token: the token's rep's
    login stands in for the session (one query; the DRF view checks the rep again)."""
    user = get_user_model()._default_manager.select_related("rep", "driver").filter(rep__pk=rep_id).first()
    if user is not None:
        request.user = user


def assistant_read(schema_view):
    """A plain GET view for the active rep, with `schema_view` (the DRF view) as its schema and
    its answer to anything else. The decorated function gets the rep's id and returns the body's
    data (or its JSON, a str), or None to hand the request to the DRF view; NotARep refuses (403 not_a_rep).

    The rep is the one of the `X-Feed-Token` header when there is one (see the module), else the
    session's."""
    drf_view = schema_view.as_view()

    def decorate(build):
        @csrf_exempt  # as DRF's views are (SessionAuthentication checks CSRF itself on writes)
        def view(request, *args, **kwargs):
            if request.method != "GET":
                return drf_view(request, *args, **kwargs)
            token = request.META.get("HTTP_X_FEED_TOKEN")  # META: no headers dict built
            if token is not None:
                rep_id = feed_token_read(token)
                if rep_id is None:
                    return json_error(*FEED_TOKEN_INVALID)
                try:
                    data = build(request, rep_id)
                except NotARep:
                    return json_error(*NOT_A_REP)
                if data is None:
                    _as_the_tokens_rep(request, rep_id)
                    return drf_view(request, *args, **kwargs)
                return _json(data)
            try:
                rep = selectors.rep_for_user(request.user)
                data = build(request, rep.pk)
            except (ApplicationError, NotARep):
                data = None
            return drf_view(request, *args, **kwargs) if data is None else _json(data)

        view.__name__ = view.__qualname__ = build.__name__
        view.__doc__ = build.__doc__
        return documented_by(schema_view, falls_back=True)(view)

    return decorate


def customers_body(request, rep: int) -> dict | str | None:
    number = _page_number(request.GET.get("page"))
    if number is None:
        return None
    if number == 1 and connection.vendor == "postgresql":  # the JSON kept whole (`first_page`)
        count, results = first_page(rep)
        head = _dumps({"count": count, **page_links(request, 1, CUSTOMERS_PAGE_SIZE < count)})
        return f'{head[:-1]},"results":{results}}}'
    page = customer_page(rep=rep, number=number, cached=True)
    if page is None:
        return None
    count, rows = page
    return {"count": count, **page_links(request, number, number * CUSTOMERS_PAGE_SIZE < count), "results": rows}
