"""Refund notifications from WeChat Pay (REFUND.SUCCESS / ABNORMAL / CLOSED).

They arrive at the payment notify URL (refund_submit passes the same notify_url; the SDK would
anyway), already verified and decrypted by the backend's one verify path: RSA signature, the
timestamp window, AES-256-GCM. Here they are checked against our own refund (merchant, order,
amounts, WeChat's refund id) and applied at once under the order's and the refund's row locks, once per
notification id. The 5-minute poll (orders.tasks.refunds_retry_unfinished) stays as the
fallback, and both only ever move an open refund (pending/processing) to a final state.
"""

import logging

from django.conf import settings
from django.db import transaction

from core.money import to_fen
from wechat.pay.crypto import Notification
from wechat.pay.types import REFUND_EVENT_STATUSES, RefundNotice

from ..models import Order, PaymentNotification, Refund
from .payments import (
    REFUND_OUTCOMES,
    PaymentRejected,
    _parse_success_time,
    payment_notification_receive,
    refund_succeeded,
)

logger = logging.getLogger(__name__)
OPEN_STATUSES = (Refund.Status.PENDING, Refund.Status.PROCESSING)


def wechatpay_notification_receive(*, notification: Notification) -> str:
    """Every verified notification from WeChat Pay: refunds here, payments in payments.py."""
    if notification.event_type in REFUND_EVENT_STATUSES:
        return refund_notification_receive(notification=notification)
    return payment_notification_receive(notification=notification)


def _refuse(message: str, notice: RefundNotice, **details) -> PaymentRejected:
    return PaymentRejected(message, details={"out_refund_no": notice.out_refund_no, **details})


def refund_notification_receive(*, notification: Notification) -> str:
    """Apply a verified REFUND.* notification to its refund, once. Returns the outcome.

    Refuses (PaymentRejected, nothing changed) one for another merchant, for an unknown refund,
    for another order, with amounts other than ours, or whose status contradicts its event.
    """
    try:
        notice = RefundNotice.from_resource(notification.resource)
    except ValueError as error:
        raise PaymentRejected("退款通知内容不完整", details={"reason": str(error)})
    if notice.refund_status != REFUND_EVENT_STATUSES[notification.event_type]:
        raise _refuse("退款通知的状态与事件不一致", notice, event_type=notification.event_type,
                      refund_status=notice.refund_status)
    if notice.mchid != settings.WECHATPAY_MCHID:
        raise _refuse("商户号不匹配", notice)
    new_status, note = REFUND_OUTCOMES[notice.refund_status]
    order_id = Refund.objects.filter(out_refund_no=notice.out_refund_no).values_list("order_id", flat=True).first()
    if order_id is None:
        raise _refuse("未知退款单", notice)
    with transaction.atomic():
        # A refund is locked only under its order's lock (seafood_b2b.locks): the order, then the refund.
        Order.objects.select_for_update().filter(pk=order_id).values_list("pk", flat=True).get()
        refund = (Refund.objects.select_for_update(of=("self",)).select_related("order__payment", "order__visitor")
                  .get(out_refund_no=notice.out_refund_no))
        payment = refund.order.payment
        if notice.out_trade_no != payment.out_trade_no:
            raise _refuse("退款通知的订单号与退款单不一致", notice, out_trade_no=notice.out_trade_no)
        if (notice.amount_refund_fen, notice.amount_total_fen) != (to_fen(refund.amount), payment.amount_fen):
            logger.critical("refund amount mismatch for %s: notified %s of %s fen, ours %s of %s fen",
                            notice.out_refund_no, notice.amount_refund_fen, notice.amount_total_fen,
                            to_fen(refund.amount), payment.amount_fen)
            raise _refuse("退款金额与退款单不一致", notice, refund_fen=notice.amount_refund_fen,
                          total_fen=notice.amount_total_fen)
        if refund.refund_id and notice.refund_id != refund.refund_id:
            raise _refuse("微信退款单号与退款单不一致", notice, refund_id=notice.refund_id)
        _, first_time = PaymentNotification.objects.get_or_create(
            notification_id=notification.id[:64],
            defaults={"event_type": f"notification:{notification.event_type}"[:32],
                      "out_trade_no": payment.out_trade_no, "outcome": "processing"},
        )
        if not first_time:
            return "duplicate"
        if refund.status not in OPEN_STATUSES:
            outcome = f"already_{refund.status}"
        else:
            refund.status = new_status
            refund.refund_id = notice.refund_id
            refund.last_error = note
            refund.succeeded_at = (_parse_success_time(notice.success_time)
                                   if new_status == Refund.Status.SUCCEEDED else None)
            refund.save(update_fields=["status", "refund_id", "last_error", "succeeded_at", "updated_at"])
            if new_status == Refund.Status.SUCCEEDED:
                refund_succeeded(refund=refund)
            outcome = f"refund_{new_status}"
        PaymentNotification.objects.filter(notification_id=notification.id[:64]).update(outcome=outcome)
    return outcome
