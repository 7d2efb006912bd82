"""A customer changes or cancels a paid order before its cut-off.

Rules (the ones a customer or the warehouse would ask about):

- Only the customer's own order, paid and not yet started by the warehouse (status PAID), and
  only before its cut-off: the 下单规则 cut-off time, in Shanghai, on the day before delivery
  (checkout_rules.change_deadline_for, the inverse of delivery_date_for that dates every order).
  From the cut-off on, purchasing and packing work from the order: refused with the reason
  (`order_change_closed`, 409) and nothing changed. An order the warehouse has started is refused
  the same way (`order_not_changeable`).
- Cancel: the order is cancelled, its reserved stock released through the ledger (RELEASE rows),
  and everything still refundable is refunded at once (paid minus every earlier refund, catch
  weight and after-sales included: payments.order_refundable). Cancelling an order already
  cancelled answers it as it is: a retried tap makes no second refund.
- Reduce or remove lines: each named line is set to a smaller quantity (0 removes it), on the
  product's minimum and steps (catalog.rules.quantity_validate); never more than ordered (an
  add-on is a new order for the same day). At least one line stays (else: cancel), and what stays
  must still reach the minimum order. The removed units are released through the ledger; the
  refund is the sum of `line_refund_value` over the reductions (the one function that prices a
  change's refund, from orders.rules.line_refundable: a line's discount share is prorated, so a
  discounted order never refunds more than was paid); the delivery fee stays as paid; the order's
  subtotal, discount and total fall accordingly.
  Setting the quantities it already has changes nothing, so a retry refunds nothing twice.
- Every refund goes through payments.refund_create under the order's row lock: never more than
  what is left to refund, and sent to WeChat Pay after commit (`out_refund_no` is the refund row's,
  so every retry of the call uses the same number). The customer is told when WeChat Pay confirms
  it (refund_done, payments.refund_succeeded).
- Locks (seafood_b2b.locks): the Order, then its Stock rows, as checkout's cancel-unpaid and
  packing take them. A cancel racing a cancel, a change racing packing or an after-sales refund
  queue on the order; the second sees what the first did.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.pricing import line_total
from catalog.rules import quantity_validate
from core.errors import Conflict, NotFound, ValidationFailed
from core.inputs import decimal_parse
from core.money import money
from logistics.services import stock_release

from ..models import Order, OrderEvent, OrderLine, OrderSettings
from ..rules import line_refundable
from .checkout_rules import change_deadline_for, delivery_date_for
from .payments import order_refundable, refund_create
from .transitions import order_transition

S = Order.Status
QUANTITY_LIMIT = Decimal("1000000")


@dataclass(frozen=True)
class ChangeWindow:
    """Whether the customer may still change or cancel the order, until when, and if not, why."""

    allowed: bool
    deadline: datetime
    reason: str


def _local_text(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def order_change_window(*, order: Order, now: datetime | None = None, rules=None) -> ChangeWindow | None:
    """The change window of an order; None for one not paid yet or cancelled (nothing to change)."""
    if order.status in (S.PENDING_PAYMENT, S.CANCELLED):
        return None
    now = now or timezone.now()
    rules = rules or OrderSettings.current()
    deadline = change_deadline_for(delivery_date=order.delivery_date, settings_row=rules)
    if order.status != S.PAID:
        return ChangeWindow(False, deadline, f"订单{order.get_status_display()}，不能再取消或修改；"
                                             "收货后如有问题请申请售后")
    if delivery_date_for(moment=now, settings_row=rules) > order.delivery_date:
        return ChangeWindow(False, deadline, f"已过截单时间（{_local_text(deadline)}），仓库正按订单采购备货，"
                                             "不能再取消或修改；收货后如有问题请申请售后")
    return ChangeWindow(True, deadline, f"{_local_text(deadline)} 截单前可取消订单或减少商品，退款原路返回")


def _check_window(order: Order, now: datetime | None) -> None:
    window = order_change_window(order=order, now=now)
    if window is None or not window.allowed:
        closed = window is not None and order.status == S.PAID
        reason = window.reason if window else f"订单{order.get_status_display()}，不能修改"
        raise Conflict(reason, code="order_change_closed" if closed else "order_not_changeable",
                       details={"status": order.status,
                                "deadline": window.deadline.isoformat() if window else None})


def line_kept_amount(*, line: OrderLine, keep: Decimal) -> Decimal:
    """What the units kept on a line cost at its price, never more than the line's amount."""
    if keep <= 0:
        return Decimal("0.00")
    return min(line_total(unit_price=line.unit_price, quantity=keep), line.amount)


def line_kept_discount(*, line: OrderLine, keep: Decimal) -> Decimal:
    """The line's share of the order's discount that stays with the units kept (pro rata)."""
    if keep <= 0 or not line.discount:
        return Decimal("0.00")
    return min(money(line.discount * keep / line.quantity), line.discount)


def line_refund_value(*, order: Order, line: OrderLine, keep: Decimal) -> Decimal:
    """What setting a line to `keep` units gives back: what the customer paid for the line
    (orders.rules.line_refundable: charged less its share of a discount) minus what they pay for
    the units kept (their price less their share of that discount). The one place a change's
    refund is priced: a discounted order never refunds more than was paid for the goods."""
    kept = max(line_kept_amount(line=line, keep=keep) - line_kept_discount(line=line, keep=keep), Decimal("0.00"))
    return max(line_refundable(line) - kept, Decimal("0.00"))


def _lock_own(order_id, customer_id) -> Order:
    order = (Order.objects.select_for_update(of=("self",)).select_related("payment")
             .filter(pk=order_id, customer_id=customer_id).first())
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    return order


def order_cancel_paid(*, order_id, customer_id, now: datetime | None = None) -> Order:
    """The customer cancels a paid order before its cut-off: stock back, everything refunded."""
    with transaction.atomic():
        order = _lock_own(order_id, customer_id)
        if order.status == S.CANCELLED:
            return order  # a retried tap: already done, nothing more to refund
        _check_window(order, now)
        lines = list(order.lines.order_by("product_id"))
        paid, refunded = order_refundable(order=order)
        order.cancelled_at = timezone.now()
        order.cancel_reason = "客户在截单前取消"
        order_transition(order=order, to_status=S.CANCELLED, actor="customer", note="截单前取消，全额退款",
                         extra_fields=("cancelled_at", "cancel_reason"))
        stock_release(items={line.product_id: line.quantity for line in lines}, reference=order.number)
        if paid - refunded > 0:
            refund_create(order=order, amount=paid - refunded, reason="截单前取消订单", actor="customer")
    return order


@dataclass(frozen=True)
class LineChange:
    line: OrderLine
    before: Decimal  # the quantity ordered
    quantity: Decimal  # the new quantity; 0 removes the line

    @property
    def removed(self) -> Decimal:
        return self.before - self.quantity

    @property
    def new_amount(self) -> Decimal:
        return line_kept_amount(line=self.line, keep=self.quantity)


def _parse_changes(lines: list[OrderLine], entries) -> list[LineChange]:
    if not isinstance(entries, list) or not entries:
        raise ValidationFailed("请选择要减少的商品", code="lines_required")
    by_product = {line.product_id: line for line in lines}
    wanted: dict[int, Decimal] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValidationFailed("请求格式错误", code="parse_error")
        product_id = entry.get("product_id")
        if not isinstance(product_id, int) or isinstance(product_id, bool) or product_id not in by_product:
            raise ValidationFailed("商品不在这个订单里", code="line_not_in_order",
                                   details={"product_id": str(product_id)[:20]})
        if product_id in wanted:
            raise ValidationFailed("同一商品填写了两次", code="duplicate_line", details={"product_id": product_id})
        line = by_product[product_id]
        quantity = money(decimal_parse(entry.get("quantity"), label=f"{line.product_name}的数量",
                                       limit=QUANTITY_LIMIT))
        if quantity < 0:
            raise ValidationFailed(f"{line.product_name}的数量不能为负", code="invalid_quantity")
        if quantity > line.quantity:
            raise ValidationFailed(f"{line.product_name}只能减少，不能超过原订 {line.quantity.normalize():f}{line.unit}；"
                                   "要加购请另下一单，同日一起送达", code="quantity_above_ordered",
                                   details={"product_id": product_id, "ordered": str(line.quantity)})
        if quantity > 0:
            quantity_validate(product=line.product, quantity=quantity)
        wanted[product_id] = quantity
    if not any(wanted.get(line.product_id, line.quantity) > 0 for line in lines):
        raise ValidationFailed("不能删除全部商品，请直接取消订单", code="cannot_remove_all")
    return [LineChange(line=by_product[pid], before=by_product[pid].quantity, quantity=q)
            for pid, q in wanted.items() if q != by_product[pid].quantity]


def order_lines_reduce(*, order_id, customer_id, lines, now: datetime | None = None) -> Order:
    """Set lines of a paid order to smaller quantities (0 removes) before its cut-off; refund them.

    `lines`: [{"product_id": int, "quantity": "2"}]. Refused with nothing changed: after the
    cut-off, above the ordered quantity, off the product's steps, all lines removed, below the
    minimum order, or a refund above what is left to refund.
    """
    with transaction.atomic():
        order = _lock_own(order_id, customer_id)
        _check_window(order, now)
        order_lines = list(order.lines.select_related("product").order_by("product_id"))
        changes = _parse_changes(order_lines, lines)
        if not changes:
            return order  # the quantities it already has: nothing to do, nothing refunded
        refund = money(sum((line_refund_value(order=order, line=c.line, keep=c.quantity) for c in changes),
                           Decimal("0")))
        subtotal = money(order.subtotal - sum((c.line.amount - c.new_amount for c in changes), Decimal("0")))
        rules = OrderSettings.current()
        if subtotal < rules.min_order_amount:
            raise ValidationFailed(f"减少后商品金额 ¥{subtotal} 低于起送金额 ¥{rules.min_order_amount}，"
                                   "可改为取消订单", code="below_minimum_order",
                                   details={"subtotal": str(subtotal), "min_order_amount": str(rules.min_order_amount)})
        note = "截单前修改：" + "；".join(
            f"{c.line.product_name} {c.before.normalize():f}→{c.quantity.normalize():f}{c.line.unit}" for c in changes)
        stock_release(items={c.line.product_id: c.removed for c in changes}, reference=order.number)
        for change in changes:
            if change.quantity:
                change.line.discount = line_kept_discount(line=change.line, keep=change.quantity)
                change.line.amount = change.new_amount
                change.line.quantity = change.quantity
                change.line.save(update_fields=["quantity", "amount", "discount"])
            else:
                change.line.delete()
        # The total falls by what is refunded; the rest of the removed value (the removed units'
        # share of a discount) comes off the order's discount, so the total still adds up.
        order.subtotal = subtotal
        order.total = money(order.total - refund)
        order.discount = money(order.subtotal + order.delivery_fee - order.total)
        order.save(update_fields=["subtotal", "total", "discount", "updated_at"])
        OrderEvent.objects.create(order=order, from_status=order.status, to_status=order.status, actor="customer",
                                  note=f"{note}，退款 ¥{refund}"[:200])
        refund_create(order=order, amount=refund, reason="截单前减少商品", actor="customer")
    return order
