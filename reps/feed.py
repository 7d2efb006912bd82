"""The rep assistant's live feed poll: the cheapest request the platform serves.

The assistant page polls every few seconds, so this endpoint avoids everything a poll does not
need: no session, no user row, no DRF. The page gets a signed feed token when it is rendered
(valid `FEED_TOKEN_MAX_AGE`); each poll checks the signature (an HMAC) and runs ONE indexed query
(orders_order (rep_id, paid_at)) that also checks the rep is still active with a working login —
so a rep who left is turned away (403 not_a_rep) at the next poll.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection
from django.http import JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orders.models import Order

from .models import Rep

FEED_SALT = "reps.feed"
FEED_TOKEN_MAX_AGE = timedelta(hours=4)
FEED_LIMIT = 30


def feed_token_make(rep) -> str:
    return signing.TimestampSigner(salt=FEED_SALT).sign(str(rep.pk))


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status,
                        json_dumps_params={"ensure_ascii": False})


# Written out rather than built by the ORM: this runs every few seconds for every rep on the road,
# and composing the query costs more than running it. The rep's row always comes back (with the
# orders, if any, through the lateral join), so the same statement tells a rep who left.
_FEED_SQL = f"""
    SELECT r.is_active AND u.is_active, o.id, o.number, o.restaurant_name, o.customer_id, o.total, o.status,
           o.paid_at, o.delivery_date
      FROM {Rep._meta.db_table} r
      JOIN {get_user_model()._meta.db_table} u ON u.id = r.user_id
      LEFT JOIN LATERAL (
            SELECT id, number, restaurant_name, customer_id, total, status, paid_at, delivery_date
              FROM {Order._meta.db_table}
             WHERE rep_id = r.id AND paid_at IS NOT NULL
               AND (%s::timestamptz IS NULL OR paid_at > %s::timestamptz)
             ORDER BY paid_at DESC
             LIMIT {FEED_LIMIT}
           ) o ON TRUE
     WHERE r.id = %s
     ORDER BY o.paid_at DESC
"""
_STATUS_LABELS = dict(Order.Status.choices)


def _feed_rows(*, rep_id: int, after) -> list[dict] | None:
    """The rep's newest paid orders (after `after`), or None if the rep has left or lost the login."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_FEED_SQL, [after, after, rep_id])
            rows = cursor.fetchall()
        if not rows or not rows[0][0]:
            return None
        rows = [row[1:] for row in rows if row[1] is not None]
    else:  # the embedded SQLite default: the same answer in two ORM queries
        if not Rep.objects.filter(pk=rep_id, is_active=True, user__is_active=True).exists():
            return None
        orders = Order.objects.filter(rep_id=rep_id, paid_at__isnull=False)
        if after is not None:
            orders = orders.filter(paid_at__gt=after)
        rows = list(orders.order_by("-paid_at").values_list(
            "id", "number", "restaurant_name", "customer_id", "total", "status", "paid_at",
            "delivery_date")[:FEED_LIMIT])
    return [
        {"id": str(pk), "number": number, "restaurant_name": name, "customer_id": customer_id,
         "total": f"{total:.2f}", "status": status, "status_label": _STATUS_LABELS.get(status, status),
         "paid_at": paid_at, "delivery_date": delivery_date}
        for pk, number, name, customer_id, total, status, paid_at, delivery_date in rows
    ]


@never_cache
@require_GET
def feed_poll(request):
    token = request.headers.get("X-Feed-Token") or request.GET.get("token", "")
    try:
        rep_id = int(signing.TimestampSigner(salt=FEED_SALT).unsign(token, max_age=FEED_TOKEN_MAX_AGE))
    except (signing.BadSignature, ValueError):
        return _error("订单动态已过期，请刷新页面", "feed_token_invalid", 401)
    after = None
    after_raw = request.GET.get("after")
    if after_raw:
        after = parse_datetime(after_raw)
        if after is None or after.tzinfo is None:
            return _error("after 须为带时区的 ISO 8601 时间", "invalid_parameter", 400)
    rows = _feed_rows(rep_id=rep_id, after=after)
    if rows is None:
        return _error("仅限在职业务员使用", "not_a_rep", 403)
    return JsonResponse({"orders": rows, "latest": rows[0]["paid_at"] if rows else after_raw or None},
                        json_dumps_params={"ensure_ascii": False})
