from django.db import transaction

from core.errors import Conflict

from ..models import Order, OrderEvent

S = Order.Status
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    S.PAID: {S.PACKING, S.CANCELLED},
    S.PACKING: {S.PACKED},
    S.PACKED: {S.OUT_FOR_DELIVERY},
    # A failed delivery goes back to the warehouse.
    S.OUT_FOR_DELIVERY: {S.DELIVERED, S.PACKED},
    S.DELIVERED: {S.COMPLETED},
    S.COMPLETED: set(),
    S.CANCELLED: set(),
}


def order_transition(*, order: Order, to_status: str, actor: str = "", note: str = "",
                     extra_fields: tuple[str, ...] = ()) -> Order:
    """The only way an order changes status: checks the map and writes the audit row.

    The caller holds the order's row lock (select_for_update) inside its transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_transition must run inside a transaction holding the order lock")
    from_status = order.status
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, set()):
        raise Conflict(
            f"订单状态为「{order.get_status_display()}」，不能变为「{S(to_status).label}」",
            code="invalid_transition", details={"from": from_status, "to": to_status},
        )
    order.status = to_status
    order.save(update_fields=["status", "updated_at", *extra_fields])
    OrderEvent.objects.create(order=order, from_status=from_status, to_status=to_status, actor=actor, note=note)
    return order
