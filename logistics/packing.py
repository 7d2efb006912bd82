"""Packing: the warehouse weighs or counts what goes into each order's box, the order is re-priced
at what was really packed, and the difference goes back to the customer through WeChat Pay.

Rules (the ones a clerk or a customer would ask about):

- Catch-weight lines (OrderLine.catch_weight) are priced by the 斤 at packing:
  price per 斤 = unit_price / nominal_weight (nominal_weight is 斤 per sale unit), so
  actual_amount = money(unit_price × actual_weight / nominal_weight). The weight is required and
  never guessed: no weight, zero, negative, more than 2 decimals (the column holds 斤 to 0.01) or
  more than MAX_WEIGHT_FACTOR × the nominal weight of what is packed is refused with nothing changed.
- Overweight is never charged: a catch-weight line costs at most what was paid for it online
  (no second payment exists to collect the extra); the capping is written to the order's events.
- Other lines take packed_quantity (default: as ordered; less when short; never more) and cost
  unit_price × packed_quantity. packed_quantity 0 on a catch-weight line means "none packed" (then
  no weight is entered), so a blank scale reading is never taken for an out-of-stock line.
- Stock is counted in sale units. A catch-weight line sold by weight (斤/kg) ships
  actual_weight / nominal_weight sale units (9.62 斤 of a 斤 product ships 9.62); one sold by count
  (箱 of 20 斤) ships the packed count of boxes: the weight changes the price, not the box count.
- Actual total = Σ actual_amount + delivery_fee − discount (the fee and discount stay as paid).
  If paid total − actual total ≥ settings.CATCH_WEIGHT_REFUND_TOLERANCE (default ¥0.10) it is
  refunded once, through orders.services.refund_create (sent after commit). Smaller differences
  are kept and noted: a refund of a few fen is noise to the customer.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from catalog.models import Product
from catalog.pricing import line_total
from core.errors import Conflict, NotFound, ValidationFailed
from core.money import money
from orders.messages import message_weight_refund
from orders.models import Order, OrderEvent, OrderLine, Refund
from orders.services import order_refundable, order_transition, refund_create

from .roles import require_warehouse_clerk
from .services import stock_ship

S = Order.Status
# Orders the warehouse works on: paid (not started) and packing (started, not finished).
PACKABLE_STATUSES = (S.PAID, S.PACKING)
# A catch-weight line sold by these units ships its weight; any other unit ships its count.
WEIGHT_UNITS = frozenset({Product.Unit.JIN, Product.Unit.KG})
# A weight above 3× nominal is a typing slip (96.2 for 9.62), not a heavy fish.
MAX_WEIGHT_FACTOR = Decimal("3")
DEFAULT_REFUND_TOLERANCE = Decimal("0.10")
REASON_WEIGHT = "实重差额退款"
REASON_SHORT = "少发退款"
REASON_BOTH = "实重差额及少发退款"
PACKING_REFUND_REASONS = (REASON_WEIGHT, REASON_SHORT, REASON_BOTH)
HUNDREDTH = Decimal("0.01")


def refund_tolerance() -> Decimal:
    return money(getattr(settings, "CATCH_WEIGHT_REFUND_TOLERANCE", DEFAULT_REFUND_TOLERANCE))


def _actor(user) -> str:
    return user.get_username()[:60]


# ---------------------------------------------------------------- selectors


def packing_default_date(*, now: datetime | None = None) -> date:
    """Tomorrow in the warehouse's time (Asia/Shanghai): what tonight's shift packs."""
    return timezone.localdate(now or timezone.now()) + timedelta(days=1)


def packing_orders(*, delivery_date: date) -> QuerySet[Order]:
    """Paid and packing orders for a delivery date, newest first, each with its line count."""
    return (
        Order.objects.filter(delivery_date=delivery_date, status__in=PACKABLE_STATUSES)
        .annotate(line_count=Count("lines"))
        .order_by("-paid_at", "-created_at", "-pk")
    )


def same_day_orders(orders) -> dict:
    """Add-ons shown together: for each order, the numbers of the same restaurant's other paid
    orders for the same delivery date (an add-on is a new order for that day), in number order.
    One query for a page of orders; cancelled and unpaid orders are not counted."""
    orders = list(orders)
    if not orders:
        return {}
    keys = {(order.customer_id, order.delivery_date) for order in orders}
    rows = (Order.objects.filter(customer_id__in={c for c, _ in keys}, delivery_date__in={d for _, d in keys})
            .exclude(status__in=(S.PENDING_PAYMENT, S.CANCELLED)).order_by("number")
            .values_list("pk", "number", "customer_id", "delivery_date"))
    by_key: dict = {}
    for pk, number, customer_id, day in rows:
        by_key.setdefault((customer_id, day), []).append((pk, number))
    return {order.pk: [number for pk, number in by_key.get((order.customer_id, order.delivery_date), [])
                       if pk != order.pk] for order in orders}


def packing_order_get(*, order_id) -> Order:
    """One order with its lines and refunds, as the packing page shows it."""
    order = (
        Order.objects.filter(pk=order_id)
        .select_related("payment")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")), "refunds")
        .first()
    )
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    return order


def order_actual_total(*, order: Order, amounts) -> Decimal:
    """What the customer owes for what was packed: the items' actual amounts, plus the delivery fee
    and minus the discount exactly as paid (a lighter box does not bring the fee back)."""
    items = sum(amounts, Decimal("0"))
    return max(money(items + order.delivery_fee - order.discount), Decimal("0.00"))


def packing_refund(*, order: Order) -> Refund | None:
    """The refund packing made for this order, if any (reads a prefetched `refunds`)."""
    refunds = [refund for refund in order.refunds.all() if refund.reason in PACKING_REFUND_REASONS]
    return max(refunds, key=lambda refund: refund.pk) if refunds else None


# ---------------------------------------------------------------- the plan (pure)


@dataclass(frozen=True)
class LinePlan:
    line: OrderLine
    packed_quantity: Decimal
    actual_weight: Decimal | None
    actual_amount: Decimal
    shipped_quantity: Decimal  # sale units leaving stock
    priced_amount: Decimal  # before the cap; > actual_amount when overweight was capped

    @property
    def capped(self) -> bool:
        return self.priced_amount > self.actual_amount


def _decimal(value, *, label: str) -> Decimal | None:
    """A number typed by a clerk: None when left empty; refused when not a plain 2-place number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bool, float)):
        # A float has already lost the digits the clerk typed; callers pass strings or Decimals.
        raise ValidationFailed(f"{label}格式不正确")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{label}请填写数字")
    if not number.is_finite():
        raise ValidationFailed(f"{label}请填写数字")
    if number.adjusted() >= 8:  # beyond any box (and beyond the columns): a slip, not a weight
        raise ValidationFailed(f"{label}数值过大，请检查是否录错")
    if number != number.quantize(HUNDREDTH, rounding=ROUND_HALF_UP):
        raise ValidationFailed(f"{label}最多两位小数")
    return number.quantize(HUNDREDTH)


def _plan_line(line: OrderLine, entry: dict) -> LinePlan:
    """What one line packs, ships and costs. Raises ValidationFailed (Chinese message) on bad input."""
    packed = _decimal(entry.get("packed_quantity"), label="实发数量")
    weight = _decimal(entry.get("actual_weight"), label="实重")
    if packed is not None and packed < 0:
        raise ValidationFailed("实发数量不能为负")
    if packed is not None and packed > line.quantity:
        raise ValidationFailed(f"实发数量不能超过下单数量 {line.quantity}{line.unit}")

    if not line.catch_weight:
        if weight is not None:
            raise ValidationFailed("该商品不按实重计价，请填写实发数量")
        packed = line.quantity if packed is None else packed
        amount = min(line_total(unit_price=line.unit_price, quantity=packed), line.amount)
        return LinePlan(line=line, packed_quantity=packed, actual_weight=None, actual_amount=amount,
                        shipped_quantity=packed, priced_amount=amount)

    nominal = line.nominal_weight
    if not nominal or nominal <= 0:
        # The catalog's check constraint makes this impossible for new lines; never guess a weight.
        raise ValidationFailed("该商品缺少标称重量，无法按实重计价，请联系管理员")
    by_weight = line.unit in WEIGHT_UNITS
    if packed == 0:
        if weight is not None:
            raise ValidationFailed("已标记缺货未发，请不要填写实重")
        zero = Decimal("0.00")
        return LinePlan(line=line, packed_quantity=zero, actual_weight=None, actual_amount=zero,
                        shipped_quantity=zero, priced_amount=zero)
    if by_weight and packed is not None:
        raise ValidationFailed("按重量出库的商品请填写实重（缺货未发填 0 件）")
    if weight is None:
        raise ValidationFailed("请填写实重（斤）")
    if weight <= 0:
        raise ValidationFailed("实重必须大于 0；缺货未发请标记缺货")
    count = line.quantity if (by_weight or packed is None) else packed
    nominal_total = count * nominal
    if weight > MAX_WEIGHT_FACTOR * nominal_total:
        raise ValidationFailed(
            f"实重 {weight} 斤超过标称 {money(nominal_total)} 斤的 {MAX_WEIGHT_FACTOR} 倍，请检查是否录错")
    priced = money(line.unit_price * weight / nominal)
    amount = min(priced, line.amount)
    if by_weight:
        shipped = (weight / nominal).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)
        count = shipped
    else:
        shipped = count
    return LinePlan(line=line, packed_quantity=count, actual_weight=weight, actual_amount=amount,
                    shipped_quantity=shipped, priced_amount=priced)


def _plan_lines(order_lines: list[OrderLine], entries: list[dict]) -> list[LinePlan]:
    """Every line of the order, exactly once; all errors at once, keyed by line id."""
    by_id = {}
    for entry in entries:
        try:
            line_id = int(entry["line_id"])
        except (TypeError, ValueError, KeyError):
            raise ValidationFailed("明细编号无效", code="invalid_packing")
        if line_id in by_id:
            raise ValidationFailed("同一明细填写了两次", code="invalid_packing", details={"line_id": line_id})
        by_id[line_id] = entry
    known = {line.pk for line in order_lines}
    unknown = sorted(set(by_id) - known)
    if unknown:
        raise ValidationFailed("明细不属于该订单", code="invalid_packing", details={"line_ids": unknown})
    plans, errors = [], {}
    for line in order_lines:
        if line.pk not in by_id:
            errors[str(line.pk)] = "未填写"
            continue
        try:
            plans.append(_plan_line(line, by_id[line.pk]))
        except ValidationFailed as error:
            errors[str(line.pk)] = error.message
    if errors:
        names = {str(line.pk): line.product_name for line in order_lines}
        first = next(iter(errors))
        raise ValidationFailed(f"{names[first]}：{errors[first]}", code="invalid_packing",
                               details={"lines": errors})
    if all(plan.packed_quantity == 0 for plan in plans):
        raise ValidationFailed("全部缺货无法打包，请联系客服为客户办理退款", code="nothing_packed")
    return plans


# ---------------------------------------------------------------- services


def order_pack_start(*, order_id, user) -> Order:
    """A clerk starts packing a paid order (paid → packing)."""
    require_warehouse_clerk(user)
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise NotFound("订单不存在", code="order_not_found")
        order_transition(order=order, to_status=S.PACKING, actor=_actor(user), note="开始备货")
    return order


@dataclass(frozen=True)
class PackingResult:
    order: Order
    lines: list[LinePlan]
    actual_total: Decimal
    difference: Decimal  # paid total − actual total
    refund: Refund | None


def _refund_reason(plans: list[LinePlan]) -> str:
    weight = any(p.line.catch_weight and p.actual_amount != p.line.amount for p in plans)
    short = any(not p.line.catch_weight and p.actual_amount != p.line.amount for p in plans)
    return REASON_BOTH if weight and short else REASON_SHORT if short else REASON_WEIGHT


def order_pack(*, order_id, lines: list[dict], user) -> PackingResult:
    """Record what went into the box, ship the stock, refund the difference: all or nothing.

    `lines`: one dict per order line: {"line_id", "packed_quantity"?, "actual_weight"?} with
    numbers as strings or Decimals. Packing twice is refused: the order is no longer packing.
    """
    require_warehouse_clerk(user)
    actor = _actor(user)
    with transaction.atomic():
        order = (Order.objects.select_for_update(of=("self",)).select_related("payment", "visitor")
                 .filter(pk=order_id).first())
        if order is None:
            raise NotFound("订单不存在", code="order_not_found")
        if order.status != S.PACKING:
            raise Conflict(f"订单状态为「{order.get_status_display()}」，不能打包", code="order_not_packing",
                           details={"status": order.status})
        order_lines = list(order.lines.order_by("id"))
        plans = _plan_lines(order_lines, lines)

        # One product at a time in product order, the lock order every stock service uses.
        for plan in sorted(plans, key=lambda p: p.line.product_id):
            stock_ship(product_id=plan.line.product_id, reserved_quantity=plan.line.quantity,
                       shipped_quantity=plan.shipped_quantity, reference=order.number)
        now = timezone.now()
        for plan in plans:
            line = plan.line
            line.packed_quantity, line.actual_weight = plan.packed_quantity, plan.actual_weight
            line.actual_amount, line.packed_at = plan.actual_amount, now
        OrderLine.objects.bulk_update(order_lines, ["packed_quantity", "actual_weight", "actual_amount", "packed_at"])
        for plan in plans:
            if plan.capped:
                OrderEvent.objects.create(
                    order=order, from_status=order.status, to_status=order.status, actor=actor,
                    note=(f"超重不加价：{plan.line.product_name} 实重 {plan.actual_weight} 斤"
                          f"（标称 {money(plan.line.quantity * plan.line.nominal_weight)} 斤），"
                          f"按实重 ¥{plan.priced_amount}，按已付 ¥{plan.line.amount} 计")[:200],
                )

        actual_total = order_actual_total(order=order, amounts=(plan.actual_amount for plan in plans))
        difference = money(order.total - actual_total)
        paid, refunded = order_refundable(order=order)
        # Earlier refunds (after-sales before packing) already gave some money back: never exceed what is left.
        refund_amount = min(difference, money(paid - refunded))
        tolerance = refund_tolerance()
        refund_due = difference > 0 and refund_amount > 0 and refund_amount >= tolerance
        if difference <= 0:
            note = f"打包完成：实际金额 ¥{actual_total}，与已付一致"
        elif refund_due:
            note = f"打包完成：实际金额 ¥{actual_total}（已付 ¥{order.total}），退差额 ¥{refund_amount}"
        elif difference >= tolerance:
            note = (f"打包完成：实际金额 ¥{actual_total}（已付 ¥{order.total}），"
                    f"差额 ¥{difference} 已由此前退款 ¥{refunded} 覆盖")
        else:
            note = (f"打包完成：实际金额 ¥{actual_total}（已付 ¥{order.total}），"
                    f"差额 ¥{difference} 低于 ¥{tolerance}，不退")
        order_transition(order=order, to_status=S.PACKED, actor=actor, note=note)
        refund = None
        if refund_due:
            refund = refund_create(order=order, amount=refund_amount, reason=_refund_reason(plans), actor=actor)
            message_weight_refund(order=order, refund=refund, actual_total=actual_total)
    return PackingResult(order=order, lines=plans, actual_total=actual_total, difference=difference, refund=refund)
