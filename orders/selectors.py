from django.db.models import Prefetch, QuerySet

from core.errors import NotFound

from .models import Order, OrderEvent, OrderLine


def customer_orders(*, customer_id: int) -> QuerySet[Order]:
    """A customer's orders, newest first, with lines for the list's summary: two queries a page."""
    return (
        Order.objects.for_customer(customer_id)
        .order_by("-created_at")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
    )


def customer_order_get(*, customer_id: int | None, order_id) -> Order:
    order = None
    if customer_id:
        order = (
            Order.objects.filter(pk=order_id, customer_id=customer_id)
            .select_related("payment")
            .prefetch_related(
                Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
                Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id")),
                "refunds",
            )
            .first()
        )
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    return order
