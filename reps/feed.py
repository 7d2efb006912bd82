"""The rep assistant's live feed poll: the cheapest request the platform serves.

The assistant page polls every few seconds, so this endpoint avoids everything a poll does not
need: no session, no user row, no DRF, no decorators. The page gets a signed feed token from
/api/v1/rep/me (valid `FEED_TOKEN_MAX_AGE`, fetched again when it runs out); each poll checks the
signature (an HMAC) and runs ONE indexed statement (orders_order (rep_id, paid_at)) that also
checks the rep is still active with a working login — so a rep who left is turned away
(403 not_a_rep) at the next poll.

On PostgreSQL the statement is prepared once per database connection (core.sql.Prepared, the
platform's one prepared-statement toolkit) and builds the response's JSON itself: a poll costs one
round trip with no planning, and Python only splices one text value into the body. The ORM path (SQLite, `make run`) answers with the same bytes.
"""

import json
from datetime import UTC, timedelta
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import Error as DatabaseError
from django.db import connection
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse

from core.errors import ValidationFailed
from core.inputs import aware_datetime_param
from core.sql import Prepared
from orders.models import Order

from .models import Rep

FEED_SALT = "reps.feed"
FEED_TOKEN_MAX_AGE = timedelta(hours=4)
FEED_LIMIT = 30
# What never_cache would write, set directly: patching the header costs more than the poll's SQL.
_NO_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def feed_token_make(rep) -> str:
    return signing.TimestampSigner(salt=FEED_SALT).sign(str(rep.pk))


def feed_token_read(token: str) -> int | None:
    """The rep id a feed token was made for; None if forged, altered or older than FEED_TOKEN_MAX_AGE."""
    try:
        return int(signing.TimestampSigner(salt=FEED_SALT).unsign(token, max_age=FEED_TOKEN_MAX_AGE))
    except (signing.BadSignature, ValueError):
        return None


FEED_TOKEN_INVALID = ("订单动态已过期，请刷新页面", "feed_token_invalid", 401)
NOT_A_REP = ("仅限在职业务员使用", "not_a_rep", 403)


def json_error(message: str, code: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status,
                            json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = _NO_CACHE
    return response


def _iso(moment) -> str:
    """UTC with microseconds ("2026-11-23T06:53:59.812039Z"), the same text the SQL writes: a
    `latest` sent back as ?after= is then exact, so the newest order is not returned again."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_STATUS_LABELS = {value: str(label) for value, label in Order.Status.choices}


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Written out rather than built by the ORM: this runs every few seconds for every rep on the road,
# and composing the query costs more than running it. The rep's row always comes back (with the
# orders, if any, through the lateral join), so the same statement tells a rep who left. The
# orders come back as one JSON text (newest first) and the newest paid_at, ready for the body.
_STATUS_LABEL_SQL = "CASE o.status " + " ".join(
    f"WHEN {_sql_text(value)} THEN {_sql_text(label)}" for value, label in _STATUS_LABELS.items()
) + " ELSE o.status END"
_FEED_SQL = """
    SELECT r.is_active AND u.is_active, f.orders, f.latest
      FROM {rep_table} r
      JOIN {user_table} u ON u.id = r.user_id
      LEFT JOIN LATERAL (
            -- paid_at is fixed-width UTC text here, so it sorts as the time does.
            SELECT string_agg(row_to_json(j)::text, ',' ORDER BY j.paid_at DESC) AS orders,
                   max(j.paid_at) AS latest
              FROM (SELECT o.id, o.number, o.restaurant_name, o.customer_id, o.total::text AS total, o.status,
                           {status_label} AS status_label,
                           to_char(o.paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS paid_at,
                           o.delivery_date
                      FROM {order_table} o
                     WHERE o.rep_id = r.id AND o.paid_at IS NOT NULL {after}
                     ORDER BY o.paid_at DESC
                     LIMIT {limit}) j
           ) f ON TRUE
     WHERE r.id = %s
"""
# Two statements rather than one with "(%s IS NULL OR paid_at > %s)", so the plan kept for the
# prepared statement uses the index for `after` too. Prepared once per connection (core.sql).
@lru_cache(maxsize=None)
def _statement(with_after: bool) -> Prepared:
    sql = _FEED_SQL.format(
        rep_table=Rep._meta.db_table, user_table=get_user_model()._meta.db_table,
        order_table=Order._meta.db_table, status_label=_STATUS_LABEL_SQL, limit=FEED_LIMIT,
        after="AND o.paid_at > %s" if with_after else "")
    # The `after` placeholder comes first in the text, so it is the first parameter.
    if with_after:
        return Prepared("reps_feed_poll_after", sql, ("timestamptz", "bigint"))
    return Prepared("reps_feed_poll", sql, ("bigint",))


def _execute_prepared(*, rep_id: int, after) -> tuple:
    statement = _statement(after is not None)
    with connection.cursor() as cursor:
        statement.execute(cursor, [after, rep_id] if after is not None else [rep_id])
        return cursor.fetchone()


def _feed_sql(*, rep_id: int, after) -> tuple[bool, str | None, str | None]:
    if connection.in_atomic_block:  # called inside a transaction (tests): no retry is possible there
        connection.close_if_health_check_failed()
        row = _execute_prepared(rep_id=rep_id, after=after)
    else:
        # The poll's statement is a read that is safe to repeat, so it is its own health check: if
        # the kept connection went away (a database restart) or lost its prepared statements,
        # reconnect and run it once more; a poll never fails for a stale connection, and with
        # DB_HEALTH_CHECKS=1 Django's "SELECT 1" round trip before it is skipped.
        connection.health_check_done = True
        try:
            row = _execute_prepared(rep_id=rep_id, after=after)
        except DatabaseError:
            connection.close()
            row = _execute_prepared(rep_id=rep_id, after=after)
    if row is None or not row[0]:  # no such rep, or one who left or lost the login
        return False, None, None
    return True, row[1], row[2]


def _feed_orm(*, rep_id: int, after) -> tuple[bool, str | None, str | None]:
    """The embedded SQLite default: the same answer in two ORM queries."""
    if not Rep.objects.filter(pk=rep_id, is_active=True, user__is_active=True).exists():
        return False, None, None
    orders = Order.objects.filter(rep_id=rep_id, paid_at__isnull=False)
    if after is not None:
        orders = orders.filter(paid_at__gt=after)
    rows = list(orders.order_by("-paid_at").values_list(
        "id", "number", "restaurant_name", "customer_id", "total", "status", "paid_at", "delivery_date")[:FEED_LIMIT])
    if not rows:
        return True, None, None
    text = ",".join(json.dumps(
        {"id": str(pk), "number": number, "restaurant_name": name, "customer_id": customer_id,
         "total": f"{total:.2f}", "status": status, "status_label": _STATUS_LABELS.get(status, status),
         "paid_at": _iso(paid_at), "delivery_date": delivery_date.isoformat()},
        ensure_ascii=False, separators=(",", ":"))
        for pk, number, name, customer_id, total, status, paid_at, delivery_date in rows)
    return True, text, _iso(rows[0][6])


def feed_orders(*, rep_id: int, after=None) -> tuple[bool, str | None, str | None]:
    """(rep still active, the orders as comma-separated JSON objects newest first or None, the
    newest paid_at or None): at most FEED_LIMIT paid orders of the rep's customers after `after`."""
    if connection.vendor == "postgresql":
        return _feed_sql(rep_id=rep_id, after=after)
    return _feed_orm(rep_id=rep_id, after=after)


def feed_poll(request):
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    token = request.META.get("HTTP_X_FEED_TOKEN") or request.GET.get("token", "")  # META: no headers dict built
    rep_id = feed_token_read(token)
    if rep_id is None:
        return json_error(*FEED_TOKEN_INVALID)
    after = None
    after_raw = request.GET.get("after")
    if after_raw:
        try:
            after = aware_datetime_param(after_raw, name="after")
        except ValidationFailed as error:
            return json_error(error.message, error.code, error.status_code)
    active, orders, latest = feed_orders(rep_id=rep_id, after=after)
    if not active:
        return json_error(*NOT_A_REP)
    # Nothing new: `latest` stays what the page sent, so its next poll asks the same.
    latest = latest or (_iso(after) if after is not None else None)
    body = '{"orders":[%s],"latest":%s}' % (orders or "", json.dumps(latest))
    response = HttpResponse(body.encode(), content_type="application/json")
    response["Cache-Control"] = _NO_CACHE
    return response
