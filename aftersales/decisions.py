"""Staff decisions on after-sales, and goodwill refunds: each one is an audit row with who and when,
a message the customer reads, and (for money) a refund through orders.services.refund_create.

Every decision takes the order's row lock first (seafood_b2b.locks), then the request, so two
staff approving the same request at once make one refund: the second finds it decided. The
refund itself never exceeds what was paid minus every earlier refund (catch-weight ones
included): refund_create refuses it, and with it the whole decision.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from core.inputs import decimal_parse, text_check
from core.money import money
from logistics.models import StockMove
from logistics.services import stock_adjust
from notifications.services import notify
from orders.rules import line_refundable

from .models import AfterSalesDecision, AfterSalesLine, AfterSalesRequest
from .rules import QUANTITY_LIMIT, approved_before, claim_value

Kind = AfterSalesDecision.Kind
Goods = AfterSalesDecision.Goods
Status = AfterSalesRequest.Status

APPROVE, PARTIAL, REJECT, MORE_INFO = "approve", "partial", "reject", "more_info"
DECISIONS = {APPROVE: "全额同意", PARTIAL: "部分同意", REJECT: "拒绝", MORE_INFO: "请补充照片"}
SHORT_RESULT = {Kind.APPROVED: "同意退款", Kind.PARTIALLY_APPROVED: "部分退款", Kind.REJECTED: "已拒绝",
                Kind.MORE_INFO: "待补充", Kind.GOODWILL: "补偿退款"}


@dataclass
class Decision:
    """What a member of staff decided. `amount` (partial by money) or `quantities` (partial by
    quantity or weight: {AfterSalesLine id: value in the claim's unit}); `goods` for approvals."""

    kind: str
    message: str = ""
    amount: object = None
    quantities: dict = field(default_factory=dict)
    goods: str = ""


def _actor(user) -> str:
    return (user.get_username() if user else "staff")[:60]


def _message(text: str, *, required: bool, what: str) -> str:
    text = text_check((text or "").strip(), label=what, field="message")
    if required and not text:
        raise ValidationFailed(f"请填写{what}", code="message_required")
    if len(text) > 300:
        raise ValidationFailed(f"{what}不能超过 300 字", code="message_too_long")
    return text


def _lock(request_id):
    from orders.models import Order

    order_id = AfterSalesRequest.objects.filter(pk=request_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound("售后申请不存在", code="aftersales_not_found")
    order = Order.objects.select_for_update(of=("self",)).select_related("payment", "visitor").get(pk=order_id)
    request = AfterSalesRequest.objects.select_for_update().get(pk=request_id)
    return order, request


def _share(lines: list[AfterSalesLine], amount: Decimal, caps: dict) -> dict[int, Decimal]:
    """An amount spread over the lines in order, each up to its cap."""
    left, shares = amount, {}
    for line in lines:
        part = min(left, caps[line.pk])
        shares[line.pk] = part
        left -= part
    if left > 0:
        raise ValidationFailed(f"同意金额超过可退金额 ¥{amount - left}", code="amount_exceeds_claim")
    return shares


def _approved_amounts(decision: Decision, lines: list[AfterSalesLine], caps: dict) -> tuple[dict, dict]:
    """(amount per line, quantity returned per line) for an approval."""
    if decision.kind == APPROVE:
        return ({line.pk: caps[line.pk] for line in lines},
                {line.pk: line.quantity or Decimal("0") for line in lines})
    if decision.quantities:
        amounts, returned = {}, {}
        by_id = {line.pk: line for line in lines}
        for line_id, raw in decision.quantities.items():
            line = by_id.get(int(line_id))
            if line is None:
                raise ValidationFailed("明细不属于该售后申请", code="line_not_in_request")
            if raw in (None, ""):
                continue
            value = money(decimal_parse(raw, label="同意数量", limit=QUANTITY_LIMIT))
            claimed = line.weight or line.quantity
            if value < 0 or value > claimed:
                raise ValidationFailed(f"「{line.order_line.product_name}」同意数量须在 0 到 {claimed} 之间",
                                       code="quantity_exceeds_claim")
            if line.weight:
                worth = claim_value(line=line.order_line, weight=value)
            else:
                worth = claim_value(line=line.order_line, quantity=value)
                returned[line.pk] = value
            amounts[line.pk] = min(worth, caps[line.pk])
        return amounts, returned
    if decision.amount in (None, ""):
        raise ValidationFailed("部分同意须填写金额或各商品的同意数量", code="amount_required")
    amount = money(decimal_parse(decision.amount, label="同意金额", limit=QUANTITY_LIMIT))
    if amount <= 0:
        raise ValidationFailed("同意金额须大于 0", code="amount_invalid")
    return _share(lines, amount, caps), {line.pk: line.quantity or Decimal("0") for line in lines}


def _goods_back(order, lines, returned: dict, request) -> None:
    for line in lines:
        quantity = returned.get(line.pk) or Decimal("0")
        if quantity > 0:
            stock_adjust(product_id=line.order_line.product_id, on_hand_delta=quantity, kind=StockMove.Kind.RETURN,
                         reference=order.number, note=f"售后#{request.pk} 退回入库")


def _tell_customer(*, order, decision: AfterSalesDecision, request=None) -> None:
    title = "售后处理结果"
    parts = [f"订单 {order.number}", decision.get_kind_display()]
    if decision.amount:
        parts.append(f"退款 ¥{decision.amount}")
    if decision.message:
        parts.append(decision.message)
    link = f"/shop/aftersales/{request.pk}/" if request else f"/shop/orders/{order.pk}/"
    notify(event_key=f"order:{order.pk}:aftersales:{decision.pk}", recipient_kind="customer",
           recipient_id=order.customer_id, channel="subscribe", template="aftersales_result", title=title,
           body="：".join(parts[:2]) + ("，" + "，".join(parts[2:]) if parts[2:] else ""),
           data={"character_string1": order.number, "phrase2": SHORT_RESULT[decision.kind],
                 "amount3": f"¥{decision.amount or Decimal('0.00')}",
                 "thing4": decision.message or decision.get_kind_display(),
                 "time5": timezone.localtime(decision.created_at).strftime("%Y年%m月%d日 %H:%M")},
           link=link, address=order.visitor.openid)


def request_decide(*, request_id, user, decision: Decision) -> AfterSalesDecision:
    """Approve in full or in part, reject, or ask for more photos. One decision per open request."""
    from orders.services import refund_create

    if decision.kind not in DECISIONS:
        raise ValidationFailed("请选择处理方式", code="decision_invalid")
    needs_message = decision.kind in (REJECT, MORE_INFO)
    message = _message(decision.message, required=needs_message,
                       what="拒绝原因" if decision.kind == REJECT else "给客户的说明")
    approving = decision.kind in (APPROVE, PARTIAL)
    if approving and decision.goods not in (Goods.RETURNED, Goods.WRITTEN_OFF):
        raise ValidationFailed("请选择货物处理：退回入库或报损", code="goods_required")
    actor = _actor(user)
    with transaction.atomic():
        order, request = _lock(request_id)
        if not request.is_open:
            raise Conflict(f"该售后申请已处理（{request.get_status_display()}）", code="aftersales_already_decided")
        if decision.kind == MORE_INFO and request.status == Status.NEEDS_MORE_INFO:
            raise Conflict("已在等待客户补充照片", code="aftersales_waiting_for_photos")
        now = timezone.now()
        row = AfterSalesDecision(order=order, request=request, staff=user if user and user.pk else None,
                                 actor=actor, message=message)
        if decision.kind == MORE_INFO:
            row.kind = Kind.MORE_INFO
            request.status = Status.NEEDS_MORE_INFO
            request.save(update_fields=["status", "updated_at"])
        else:
            lines = list(request.lines.select_related("order_line").order_by("id"))
            amounts, returned = {}, {}
            if approving:
                before = approved_before(line.order_line_id for line in lines)
                caps = {line.pk: max(min(line.claimed_amount,
                                         line_refundable(line.order_line) - before.get(line.order_line_id, 0)),
                                     Decimal("0")) for line in lines}
                amounts, returned = _approved_amounts(decision, lines, caps)
                total = sum(amounts.values(), Decimal("0"))
                if total <= 0:
                    raise ValidationFailed("同意金额须大于 0", code="amount_invalid")
                full = decision.kind == APPROVE
                row.kind = Kind.APPROVED if full else Kind.PARTIALLY_APPROVED
                row.amount = total
                row.goods = decision.goods
                row.refund = refund_create(order=order, amount=total, actor=actor,
                                           reason=f"售后#{request.pk} {request.get_reason_display()}")
                request.status = Status.APPROVED if full else Status.PARTIALLY_APPROVED
                request.refunded_amount = total
            else:
                row.kind = Kind.REJECTED
                request.status = Status.REJECTED
            for line in lines:
                line.approved_amount = amounts.get(line.pk, Decimal("0"))
                line.returned_quantity = returned.get(line.pk, Decimal("0")) if decision.goods == Goods.RETURNED \
                    else Decimal("0")
                line.is_open = False
            AfterSalesLine.objects.bulk_update(lines, ["approved_amount", "returned_quantity", "is_open"])
            request.decided_at = now
            request.save(update_fields=["status", "refunded_amount", "decided_at", "updated_at"])
            if approving and decision.goods == Goods.RETURNED:
                _goods_back(order, lines, {line.pk: line.returned_quantity for line in lines}, request)
        row.save()
        _tell_customer(order=order, decision=row, request=request)
    return row


def goodwill_refund(*, order_id, user, amount, message: str) -> AfterSalesDecision:
    """补偿退款 on any paid order, with a reason the customer reads; within what is left to refund."""
    from orders.models import Order
    from orders.services import refund_create

    message = _message(message, required=True, what="补偿原因")
    amount = money(decimal_parse(amount, label="补偿金额", limit=QUANTITY_LIMIT))
    if amount <= 0:
        raise ValidationFailed("补偿金额须大于 0", code="amount_invalid")
    actor = _actor(user)
    with transaction.atomic():
        order = (Order.objects.select_for_update(of=("self",)).select_related("payment", "visitor")
                 .filter(pk=order_id).first())
        if order is None:
            raise NotFound("订单不存在", code="order_not_found")
        if not hasattr(order, "payment"):
            raise Conflict("订单未付款，不能退款", code="order_not_paid")
        refund = refund_create(order=order, amount=amount, reason=f"补偿：{message}"[:80], actor=actor)
        row = AfterSalesDecision.objects.create(order=order, kind=Kind.GOODWILL, actor=actor, amount=amount,
                                                staff=user if user and user.pk else None, refund=refund,
                                                message=message)
        _tell_customer(order=order, decision=row)
    return row
