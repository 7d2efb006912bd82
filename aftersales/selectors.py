"""Reads of after-sales that the customer's API, the mini-site and admin share (bounded queries)."""

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from core.errors import NotFound
from orders.rules import line_refundable

from .models import AfterSalesDecision, AfterSalesLine, AfterSalesRequest, AfterSalesSettings
from .rules import (
    approved_before,
    delivered_at,
    line_delivered_quantity,
    line_weighs,
    line_window_end,
)


def _with_everything(queryset: QuerySet) -> QuerySet:
    return (queryset.select_related("order")
            .prefetch_related(Prefetch("lines", queryset=AfterSalesLine.objects.select_related("order_line")
                                       .order_by("id")),
                              "photos",
                              Prefetch("decisions", queryset=AfterSalesDecision.objects.order_by("created_at", "id"))))


def customer_requests(*, customer_id) -> QuerySet[AfterSalesRequest]:
    """A customer's requests, newest first, with lines, photos and replies: five queries a page."""
    return _with_everything(AfterSalesRequest.objects.filter(customer_id=customer_id or 0)
                            .order_by("-created_at", "-id"))


def customer_request_get(*, customer_id, request_id) -> AfterSalesRequest:
    request = customer_requests(customer_id=customer_id).filter(pk=request_id).first()
    if request is None:
        raise NotFound("售后申请不存在", code="aftersales_not_found")
    return request


def order_aftersales(*, customer_id, order_id, now=None) -> dict:
    """What the customer may claim on their order: each line's delivered quantity, window, and
    whether it is free (no open request, something left to refund); with the order's requests."""
    from orders.models import Order, OrderLine

    now = now or timezone.now()
    order = (Order.objects.filter(pk=order_id, customer_id=customer_id or 0)
             .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("id")),
                               "events").first())
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    rules = AfterSalesSettings.current()
    delivered = delivered_at(order) if order.status in ("delivered", "completed") else None
    lines = list(order.lines.all())
    open_lines = set(AfterSalesLine.objects.filter(order_line__order=order, is_open=True)
                     .values_list("order_line_id", flat=True))
    given_back = approved_before(line.pk for line in lines)
    rows = []
    for line in lines:
        ends = line_window_end(delivered=delivered, storage=line.product.storage, rules=rules) if delivered else None
        remaining = line_refundable(line) - given_back.get(line.pk, 0)
        problem = ""
        if ends is None:
            problem = "订单送达后才能申请售后"
        elif now > ends:
            problem = "已过售后期限"
        elif line.pk in open_lines:
            problem = "售后处理中"
        elif remaining <= 0:
            problem = "已全额退款"
        rows.append({
            "line_id": line.pk, "product_name": line.product_name, "spec": line.spec, "unit": line.unit,
            "delivered_quantity": line_delivered_quantity(line), "weighs": line_weighs(line),
            "actual_weight": line.actual_weight, "charged_amount": line_refundable(line),
            "refundable_amount": max(remaining, 0), "window_end": ends, "claimable": not problem,
            "problem": problem,
        })
    requests = list(_with_everything(AfterSalesRequest.objects.filter(order=order).order_by("-created_at", "-id")))
    return {"order_id": order.pk, "order_number": order.number, "status": order.status,
            "delivered_at": delivered, "lines": rows, "requests": requests}


def queue(queryset: QuerySet | None = None) -> QuerySet[AfterSalesRequest]:
    """The back office's queue: oldest first, open ones by default."""
    queryset = AfterSalesRequest.objects.all() if queryset is None else queryset
    return queryset.select_related("order", "customer").order_by("created_at", "id")
