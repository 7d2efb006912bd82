"""Writes in the orders domain. Read top to bottom, an order's life is:

checkout.order_place → payments.payment_prepare → (WeChat Pay notification or query)
payments.payment_settle → transitions.order_transition … ; unpaid: payments.order_cancel_unpaid.
Paid, before the cut-off: changes.order_cancel_paid / changes.order_lines_reduce.
Refunds: payments.refund_create → payments.refund_submit → (REFUND.* notification or query)
refunds.refund_notification_receive; a refund that succeeds: payments.refund_succeeded (the
customer's message, the after-sales request marked refunded). Customer messages: orders/messages.py.
"""

from .changes import order_cancel_paid, order_change_window, order_lines_reduce  # noqa: F401
from .checkout import (  # noqa: F401
    BasketLine,
    DeliveryInput,
    delivery_date_for,
    order_place,
    order_quote,
    parse_basket,
    parse_coupon,
)
from .checkout_rules import change_deadline_for  # noqa: F401
from .payments import (  # noqa: F401
    PaymentRejected,
    order_cancel_by_customer,
    order_cancel_unpaid,
    order_expire,
    order_refundable,
    payment_notification_receive,
    payment_prepare,
    payment_settle,
    payment_sync,
    refund_create,
    refund_submit,
    refund_succeeded,
)
from .refunds import refund_notification_receive, wechatpay_notification_receive  # noqa: F401
from .reorder import cart_refill_from_order  # noqa: F401
from .transitions import ALLOWED_TRANSITIONS, order_transition  # noqa: F401
