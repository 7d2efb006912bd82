"""Writes in the orders domain. Read top to bottom, an order's life is:

checkout.order_place → payments.payment_prepare → (WeChat Pay notification or query)
payments.payment_settle → transitions.order_transition … ; unpaid: payments.order_cancel_unpaid.
Refunds: payments.refund_create → payments.refund_submit → (REFUND.* notification or query)
refunds.refund_notification_receive.
"""

from .checkout import BasketLine, DeliveryInput, delivery_date_for, order_place, order_quote, parse_basket  # noqa: F401
from .payments import (  # noqa: F401
    PaymentRejected,
    order_cancel_by_customer,
    order_cancel_unpaid,
    order_expire,
    payment_notification_receive,
    payment_prepare,
    payment_settle,
    payment_sync,
    refund_create,
    refund_submit,
)
from .refunds import refund_notification_receive, wechatpay_notification_receive  # noqa: F401
from .reorder import cart_refill_from_order  # noqa: F401
from .transitions import ALLOWED_TRANSITIONS, order_transition  # noqa: F401
