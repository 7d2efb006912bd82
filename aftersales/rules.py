"""The after-sales rules every side shares: when an order was delivered, each line's window, what
a line was charged (catch weight counted), and what a claim on it is worth."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from core.errors import ValidationFailed
from core.inputs import decimal_parse
from core.money import money
from orders.rules import line_refundable

from .models import AfterSalesLine, AfterSalesSettings

QUANTITY_LIMIT = Decimal("1000000")


def delivered_at(order) -> datetime | None:
    """When the order was delivered: its DELIVERED event (reads prefetched `events` if present)."""
    from orders.models import Order

    if hasattr(order, "_prefetched_objects_cache") and "events" in order._prefetched_objects_cache:
        moments = [e.created_at for e in order.events.all() if e.to_status == Order.Status.DELIVERED]
        return max(moments) if moments else None
    return (order.events.filter(to_status=Order.Status.DELIVERED).order_by("-created_at")
            .values_list("created_at", flat=True).first())


def line_window_end(*, delivered: datetime, storage: str, rules: AfterSalesSettings) -> datetime:
    return delivered + timedelta(hours=rules.window_hours(storage))


def local_text(moment: datetime) -> str:
    local = timezone.localtime(moment)  # Asia/Shanghai
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def line_delivered_quantity(line) -> Decimal:
    return line.packed_quantity if line.packed_quantity is not None else line.quantity


def line_weighs(line) -> bool:
    """A weight (斤) can be claimed on a catch-weight line that was weighed at packing."""
    return bool(line.catch_weight and line.actual_weight)


def approved_before(order_line_ids) -> dict[int, Decimal]:
    """What earlier after-sales decisions already gave back per order line: one query."""
    rows = (AfterSalesLine.objects.filter(order_line_id__in=list(order_line_ids), approved_amount__gt=0)
            .values("order_line_id").annotate(total=Sum("approved_amount")))
    return {row["order_line_id"]: row["total"] for row in rows}


@dataclass(frozen=True)
class Claim:
    quantity: Decimal | None
    weight: Decimal | None


def claim_parse(*, line, quantity=None, weight=None, label: str) -> Claim:
    """A claimed quantity (the line's unit) or weight (斤, catch-weight lines), within what was delivered."""
    if (quantity in (None, "")) == (weight in (None, "")):
        raise ValidationFailed(f"{label}：请填写数量或重量（二选一）", code="claim_required")
    if weight not in (None, ""):
        if not line_weighs(line):
            raise ValidationFailed(f"{label}不是按实重计价的商品，请按数量申请", code="claim_weight_not_allowed")
        value = money(decimal_parse(weight, label=f"{label}的重量", limit=QUANTITY_LIMIT))
        if value <= 0:
            raise ValidationFailed(f"{label}的重量须大于 0", code="claim_invalid")
        if value > line.actual_weight:
            raise ValidationFailed(f"{label}申请 {value} 斤，超过实发重量 {line.actual_weight} 斤",
                                   code="claim_exceeds_delivered",
                                   details={"delivered": str(line.actual_weight), "claimed": str(value)})
        return Claim(quantity=None, weight=value)
    value = money(decimal_parse(quantity, label=f"{label}的数量", limit=QUANTITY_LIMIT))
    delivered = line_delivered_quantity(line)
    if value <= 0:
        raise ValidationFailed(f"{label}的数量须大于 0", code="claim_invalid")
    if value > delivered:
        raise ValidationFailed(f"{label}申请 {value.normalize():f}{line.unit}，超过实发 {delivered.normalize():f}{line.unit}",
                               code="claim_exceeds_delivered",
                               details={"delivered": str(delivered), "claimed": str(value)})
    return Claim(quantity=value, weight=None)


def claim_value(*, line, quantity: Decimal | None = None, weight: Decimal | None = None) -> Decimal:
    """The money a claim is worth, prorated from what the customer paid for the line
    (orders.rules.line_refundable: charged less the line's discount): never more than that."""
    charged = line_refundable(line)
    if weight is not None:
        value = charged * weight / line.actual_weight
    else:
        value = charged * quantity / line_delivered_quantity(line)
    return min(money(value), charged)
