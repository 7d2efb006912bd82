"""The customer's side of after-sales: open a request on a delivered order, add photos when asked.

Every check runs before anything is written (photos are decoded and re-encoded in memory first),
and the writes happen under the order's row lock, so two requests racing for one line still
leave one open request on it (the partial unique constraint is the last word).
"""

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from core.inputs import text_check, id_from_text
from orders.rules import line_refundable

from .models import AfterSalesDecision, AfterSalesLine, AfterSalesPhoto, AfterSalesRequest, AfterSalesSettings
from .photos import photos_clean, photos_count_check
from .rules import (
    approved_before,
    claim_parse,
    claim_value,
    delivered_at,
    line_window_end,
    local_text,
)

CLAIMABLE_STATUSES = ("delivered", "completed")
MAX_LINES = 50
Reason = AfterSalesRequest.Reason


def _lines_input(lines) -> list[dict]:
    if not isinstance(lines, list) or not lines:
        raise ValidationFailed("请选择要申请售后的商品", code="lines_required")
    if len(lines) > MAX_LINES:
        raise ValidationFailed("商品行过多", code="lines_invalid")
    parsed, seen = [], set()
    for index, item in enumerate(lines):
        if not isinstance(item, dict):
            raise ValidationFailed("商品行格式不正确", code="lines_invalid", details={"line": index})
        line_id = id_from_text(str(item.get("line_id", "")))
        if line_id is None:
            raise ValidationFailed("商品行格式不正确", code="lines_invalid", details={"line": index})
        if line_id in seen:
            raise ValidationFailed("同一商品只能填写一次", code="lines_invalid", details={"line": index})
        seen.add(line_id)
        parsed.append({"line_id": line_id, "quantity": item.get("quantity"), "weight": item.get("weight")})
    return parsed


def _save_photos(request: AfterSalesRequest, photos) -> None:
    # A random name: the photo's /media/ address is its only lock (the web server serves it to
    # whoever has it), so it must not be guessable from the request's number and a counter.
    for photo in photos:
        row = AfterSalesPhoto(request=request, width=photo.width, height=photo.height)
        extension = photo.content.name.rsplit(".", 1)[-1]
        row.image.save(f"{secrets.token_urlsafe(16)}.{extension}", photo.content, save=False)
        row.save()


def request_create(*, customer_id, order_id, reason: str, note: str = "", lines, photos=(),
                   now: datetime | None = None) -> AfterSalesRequest:
    """申请售后 on the customer's own delivered order, within each line's window.

    Refused (nothing stored): someone else's order, an order not delivered, a line outside its
    window or not on the order, a quantity or weight above what was delivered, a line already in
    an open request or fully refunded, a bad photo or too many.
    """
    from orders.models import Order

    now = now or timezone.now()
    if reason not in Reason.values:
        raise ValidationFailed("请选择售后原因", code="reason_invalid",
                               details={"choices": list(Reason.values)})
    note = text_check((note or "").strip(), label="说明", field="note")
    if len(note) > 300:
        raise ValidationFailed("说明不能超过 300 字", code="note_too_long")
    wanted = _lines_input(lines)
    clean_photos = photos_clean(photos)
    if not customer_id:
        raise NotFound("订单不存在", code="order_not_found")
    rules = AfterSalesSettings.current()

    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id, customer_id=customer_id).first()
        if order is None:
            raise NotFound("订单不存在", code="order_not_found")
        if order.status not in CLAIMABLE_STATUSES:
            raise Conflict(f"订单{order.get_status_display()}，送达后才能申请售后", code="order_not_delivered")
        delivered = delivered_at(order)
        if delivered is None:
            raise Conflict("订单没有送达记录，无法申请售后，请联系客服", code="order_not_delivered")
        order_lines = {line.pk: line for line in order.lines.select_related("product")}
        open_lines = set(AfterSalesLine.objects.filter(order_line__order=order, is_open=True)
                         .values_list("order_line_id", flat=True))
        given_back = approved_before(order_lines)
        rows = []
        for item in wanted:
            line = order_lines.get(item["line_id"])
            if line is None:
                raise ValidationFailed("所选商品不在该订单中", code="line_not_in_order",
                                       details={"line_id": item["line_id"]})
            label = f"「{line.product_name}」"
            ends = line_window_end(delivered=delivered, storage=line.product.storage, rules=rules)
            if now > ends:
                raise Conflict(f"{label}的售后期限已过（截至 {local_text(ends)}）", code="aftersales_window_closed",
                               details={"line_id": line.pk, "window_end": ends.isoformat()})
            if line.pk in open_lines:
                raise Conflict(f"{label}已有处理中的售后申请", code="line_has_open_request",
                               details={"line_id": line.pk})
            remaining = line_refundable(line) - given_back.get(line.pk, 0)
            if remaining <= 0:
                raise Conflict(f"{label}已全额退款", code="line_fully_refunded", details={"line_id": line.pk})
            claim = claim_parse(line=line, quantity=item["quantity"], weight=item["weight"], label=label)
            value = min(claim_value(line=line, quantity=claim.quantity, weight=claim.weight), remaining)
            rows.append(AfterSalesLine(order_line=line, quantity=claim.quantity, weight=claim.weight,
                                       claimed_amount=value))
        request = AfterSalesRequest.objects.create(
            order=order, customer_id=customer_id, reason=reason, note=note,
            claimed_amount=sum(row.claimed_amount for row in rows))
        for row in rows:
            row.request = request
        try:
            with transaction.atomic():
                AfterSalesLine.objects.bulk_create(rows)
        except IntegrityError:
            raise Conflict("所选商品已有处理中的售后申请", code="line_has_open_request")
        _save_photos(request, clean_photos)
        AfterSalesDecision.objects.create(order=order, request=request, kind=AfterSalesDecision.Kind.SUBMITTED,
                                          actor="customer", message=note)
    return request


def request_photos_add(*, customer_id, request_id, photos) -> AfterSalesRequest:
    """补充照片: only when staff asked for more; the request goes back to the queue."""
    from orders.models import Order

    if not photos:
        raise ValidationFailed("请选择要上传的照片", code="photos_required")
    clean_photos = photos_clean(photos)  # decoded before any lock is taken
    order_id = (AfterSalesRequest.objects.filter(pk=request_id, customer_id=customer_id or 0)
                .values_list("order_id", flat=True).first())
    if order_id is None:
        raise NotFound("售后申请不存在", code="aftersales_not_found")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        request = AfterSalesRequest.objects.select_for_update().get(pk=request_id)
        if request.status != AfterSalesRequest.Status.NEEDS_MORE_INFO:
            raise Conflict("客服未要求补充照片，无需上传", code="photos_not_requested")
        photos_count_check(already=request.photos.count(), sent=len(clean_photos))
        _save_photos(request, clean_photos)
        request.status = AfterSalesRequest.Status.SUBMITTED
        request.save(update_fields=["status", "updated_at"])
        AfterSalesDecision.objects.create(order=order, request=request, kind=AfterSalesDecision.Kind.PHOTOS_ADDED,
                                          actor="customer")
    return request


def requests_mark_refunded(*, refund_id, refunded_at: datetime) -> int:
    """An approval's refund reached the customer: its request is 已退款. Called once, by
    orders.services.payments.refund_succeeded, under the order's lock; a request in any other state
    (a goodwill refund has none) is left alone."""
    Status = AfterSalesRequest.Status
    return AfterSalesRequest.objects.filter(
        decisions__refund_id=refund_id, status__in=[Status.APPROVED, Status.PARTIALLY_APPROVED],
    ).update(status=Status.REFUNDED, refunded_at=refunded_at, updated_at=timezone.now())
