"""The rep assistant's live feed poll: the cheapest request the platform serves.

The assistant page polls every few seconds, so this endpoint avoids everything a poll does not
need: no session, no user row, no DRF. The page gets a signed feed token when it is rendered
(valid `FEED_TOKEN_MAX_AGE`); each poll checks the signature (an HMAC) and runs ONE indexed query
(orders_order (rep_id, paid_at)) that also checks the rep is still active with a working login —
so a rep who left sees nothing new from the next poll on.
"""

from datetime import timedelta

from django.core import signing
from django.http import JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orders.models import Order

FEED_SALT = "reps.feed"
FEED_TOKEN_MAX_AGE = timedelta(hours=4)
FEED_LIMIT = 30


def feed_token_make(rep) -> str:
    return signing.TimestampSigner(salt=FEED_SALT).sign(str(rep.pk))


def _error(message: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status,
                        json_dumps_params={"ensure_ascii": False})


@never_cache
@require_GET
def feed_poll(request):
    token = request.headers.get("X-Feed-Token") or request.GET.get("token", "")
    try:
        rep_id = int(signing.TimestampSigner(salt=FEED_SALT).unsign(token, max_age=FEED_TOKEN_MAX_AGE))
    except (signing.BadSignature, ValueError):
        return _error("订单动态已过期，请刷新页面", "feed_token_invalid", 401)
    orders = Order.objects.filter(rep_id=rep_id, rep__is_active=True, rep__user__is_active=True,
                                  paid_at__isnull=False)
    after_raw = request.GET.get("after")
    if after_raw:
        after = parse_datetime(after_raw)
        if after is None or after.tzinfo is None:
            return _error("after 须为带时区的 ISO 8601 时间", "invalid_parameter", 400)
        orders = orders.filter(paid_at__gt=after)
    rows = list(orders.order_by("-paid_at").values(
        "id", "number", "restaurant_name", "customer_id", "total", "status", "paid_at", "delivery_date")[:FEED_LIMIT])
    labels = dict(Order.Status.choices)
    for row in rows:
        row["id"] = str(row["id"])
        row["total"] = f"{row['total']:.2f}"
        row["status_label"] = labels.get(row["status"], row["status"])
    return JsonResponse({"orders": rows, "latest": rows[0]["paid_at"] if rows else after_raw or None},
                        json_dumps_params={"ensure_ascii": False})
