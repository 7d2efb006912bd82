from django.db.models import Prefetch, QuerySet

from core.errors import NotFound

from .models import Order, OrderEvent, OrderLine
from .services.changes import order_change_window


def customer_orders(*, customer_id: int) -> QuerySet[Order]:
    """A customer's orders, newest first, with lines for the list's summary: two queries a page."""
    return (
        Order.objects.for_customer(customer_id)
        .order_by("-created_at")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
    )


def customer_order_messages(*, customer_id: int, order_id) -> list:
    """What we told the customer about this order (the delivery message...), oldest first: one query.

    Notifications point at their order only through the event key ("order:<uuid>:<event>"), as
    the outbox is shared by every app; the (recipient_kind, recipient_id) index narrows it first.
    """
    from notifications.models import Notification

    return list(
        Notification.objects.filter(recipient_kind=Notification.Recipient.CUSTOMER, recipient_id=str(customer_id),
                                    event_key__startswith=f"order:{order_id}:")
        .only("title", "body", "channel", "status", "created_at", "sent_at")
        .order_by("created_at", "id")
    )


def customer_order_get(*, customer_id: int | None, order_id) -> Order:
    """The customer's own order with lines, events, refunds, messages (`customer_messages`) and
    whether it may still be changed (`change_window`)."""
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
    order.customer_messages = customer_order_messages(customer_id=customer_id, order_id=order.pk)
    order.change_window = order_change_window(order=order)
    return order
