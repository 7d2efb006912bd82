"""WeChat Pay around an order: prepare, settle (notification or query), expire, refund.

No WeChat call ever happens inside a database transaction; every state change happens under
the order's row lock (order first, then payment), so a notification, a query and the expiry
sweep racing each other still pay an order at most once.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound
from core.money import from_fen, money, to_fen
from core.tasks import enqueue_on_commit
from coupons.services import coupon_release
from crm.welcome import welcome_on_first_payment
from customers.churn import customer_record_payment
from logistics.services import stock_release
from wechat.backends import get_backend
from wechat.pay.crypto import Notification
from wechat.pay.types import PayTransaction, WeChatPayError

from ..messages import message_order_paid, message_refund_done
from ..models import Order, OrderEvent, Payment, PaymentNotification, Refund
from .transitions import order_transition

logger = logging.getLogger(__name__)
S = Order.Status
# WeChat Pay wants time_expire at least a minute ahead; leave a margin for the buyer to tap.
MIN_PAY_WINDOW = timedelta(seconds=70)


# WeChat Pay's refund states -> ours, with the note staff see on a refund that did not go through.
REFUND_OUTCOMES = {
    "SUCCESS": (Refund.Status.SUCCEEDED, ""),
    "PROCESSING": (Refund.Status.PROCESSING, ""),
    "ABNORMAL": (Refund.Status.FAILED, "退款异常：买家收款账户异常（如银行卡作废），请在微信支付商户平台处理"),
    "CLOSED": (Refund.Status.FAILED, "退款已被微信支付关闭"),
}


class PaymentRejected(ApplicationError):
    """A payment message we must not act on (unknown order, wrong amount, wrong merchant)."""

    code = "payment_rejected"
    default_message = "支付信息校验失败"


def payment_prepare(*, order_id, notify_url: str, now: datetime | None = None, order: Order | None = None) -> dict:
    """Ask WeChat Pay for a prepay_id and return the signed `wx.requestPayment` parameters.

    The prepay_id is not stored: it only serves this `requestPayment` (valid two hours), a retry
    asks for a fresh one, and WeChat Pay is always queried, closed and refunded by out_trade_no.

    `order` (with payment and visitor loaded) spares reading it again right after checkout.
    """
    now = now or timezone.now()
    if order is None or order.pk != order_id:
        order = Order.objects.select_related("payment", "visitor").filter(pk=order_id).first()
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    if order.status != S.PENDING_PAYMENT:
        raise Conflict(f"订单{order.get_status_display()}，无需支付", code="order_not_payable")
    if order.expires_at - now < MIN_PAY_WINDOW:
        raise Conflict("订单支付时间已到，请重新下单", code="order_payment_expired")
    payment = order.payment
    backend = get_backend()
    prepay_id = backend.pay_prepay(
        out_trade_no=payment.out_trade_no, description=f"海鲜订货-订单{order.number}",
        amount_fen=payment.amount_fen, openid=order.visitor.openid, time_expire=order.expires_at,
        notify_url=settings.WECHATPAY_NOTIFY_URL or notify_url,
    )
    return backend.pay_request_params(prepay_id=prepay_id)


def _parse_success_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return timezone.now()
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


def order_refundable(*, order: Order) -> tuple[Decimal, Decimal]:
    """(paid, refunded): what WeChat Pay took for the order and what every refund not failed gives
    back. Read under the order's row lock, so a refund racing another sees it (seafood_b2b.locks)."""
    paid = from_fen(order.payment.amount_fen) if order.payment.status == Payment.Status.SUCCEEDED else Decimal("0")
    refunded = order.refunds.exclude(status=Refund.Status.FAILED).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    return paid, refunded


def refund_create(*, order: Order, amount: Decimal, reason: str, actor: str) -> Refund:
    """A refund row, never more than what was paid minus what was already refunded.

    Call with the order locked, inside a transaction; the refund is sent after commit.
    """
    amount = money(amount)
    paid, refunded = order_refundable(order=order)
    if amount <= 0 or amount > paid - refunded:
        raise Conflict(f"退款金额不能超过可退金额 ¥{paid - refunded}", code="refund_exceeds_paid",
                       details={"paid": str(paid), "refunded": str(refunded), "requested": str(amount)})
    sequence = order.refunds.count() + 1
    refund = Refund.objects.create(order=order, out_refund_no=f"{order.number}R{sequence}", amount=amount,
                                   reason=reason[:80])
    OrderEvent.objects.create(order=order, from_status=order.status, to_status=order.status, actor=actor,
                              note=f"发起退款 ¥{amount}：{reason}"[:200])
    from ..tasks import refund_submit_task

    enqueue_on_commit(refund_submit_task, refund.pk)
    return refund


def payment_settle(*, transaction_data: PayTransaction, source_id: str, source: str = "notification") -> str:
    """Apply a successful WeChat Pay transaction to its order, exactly once. Returns the outcome.

    Refuses (PaymentRejected, nothing changed) a transaction for another merchant or app,
    for an unknown order, or whose amount differs from what the order asked.
    """
    tx = transaction_data
    if tx.mchid != settings.WECHATPAY_MCHID or tx.appid != settings.WECHAT_APPID:
        raise PaymentRejected("商户号或 AppID 不匹配", details={"out_trade_no": tx.out_trade_no})
    if tx.trade_state != "SUCCESS":
        return f"ignored:{tx.trade_state}"
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(payment__out_trade_no=tx.out_trade_no).first()
        if order is None:
            raise PaymentRejected("未知订单", details={"out_trade_no": tx.out_trade_no})
        payment = Payment.objects.select_for_update().get(order=order)
        if tx.amount_total_fen != payment.amount_fen:
            logger.critical("payment amount mismatch for %s: paid %s fen, expected %s fen",
                            tx.out_trade_no, tx.amount_total_fen, payment.amount_fen)
            raise PaymentRejected("支付金额与订单金额不一致",
                                  details={"out_trade_no": tx.out_trade_no, "paid_fen": tx.amount_total_fen})
        _, first_time = PaymentNotification.objects.get_or_create(
            notification_id=source_id[:64],
            defaults={"event_type": f"{source}:TRANSACTION.SUCCESS"[:32], "out_trade_no": tx.out_trade_no,
                      "outcome": "processing"},
        )
        if not first_time:
            return "duplicate"
        if payment.status == Payment.Status.SUCCEEDED:
            outcome = "already_paid"
        else:
            paid_at = _parse_success_time(tx.success_time)
            payment.status = Payment.Status.SUCCEEDED
            payment.transaction_id = tx.transaction_id or None
            payment.payer_openid = tx.payer_openid
            payment.succeeded_at = paid_at
            payment.save(update_fields=["status", "transaction_id", "payer_openid", "succeeded_at", "updated_at"])
            if order.status == S.PENDING_PAYMENT:
                order.paid_at = paid_at
                order_transition(order=order, to_status=S.PAID, actor="wechatpay",
                                 note=f"微信支付成功 {tx.transaction_id}", extra_fields=("paid_at",))
                customer_record_payment(customer_id=order.customer_id, paid_at=paid_at)
                message_order_paid(order=order, paid_at=paid_at)
                welcome_on_first_payment(order=order)  # a welcome still owed goes now, or is closed (crm.welcome)
                outcome = "paid"
            else:
                # Paid after we gave up waiting (the order expired and its stock went back on sale):
                # the money goes back in full rather than reviving an order we may not be able to fill.
                refund_create(order=order, amount=order.total, reason="订单已超时取消，自动全额退款", actor="system")
                outcome = "refunded_late_payment"
        PaymentNotification.objects.filter(notification_id=source_id[:64]).update(outcome=outcome)
    return outcome


def payment_notification_receive(*, notification: Notification) -> str:
    """A verified, decrypted notification from WeChat Pay (see wechat.backends.pay_base)."""
    if notification.event_type != "TRANSACTION.SUCCESS":
        return f"ignored:{notification.event_type}"
    try:
        tx = PayTransaction.from_resource(notification.resource)
    except ValueError as error:
        raise PaymentRejected("支付通知内容不完整", details={"reason": str(error)})
    return payment_settle(transaction_data=tx, source_id=notification.id)


def payment_sync(*, order_id) -> str:
    """No notification (yet)? Ask WeChat Pay and settle what it says."""
    payment = Payment.objects.filter(order_id=order_id).first()
    if payment is None:
        raise NotFound("订单不存在", code="order_not_found")
    if payment.status == Payment.Status.SUCCEEDED:
        return "already_paid"
    tx = get_backend().pay_query(out_trade_no=payment.out_trade_no)
    if tx is None:
        return "unknown_to_wechatpay"
    if tx.trade_state != "SUCCESS":
        return f"not_paid:{tx.trade_state}"
    return payment_settle(transaction_data=tx, source_id=f"query:{tx.transaction_id}", source="query")


def order_cancel_unpaid(*, order_id, reason: str, actor: str) -> bool:
    """Cancel an order still awaiting payment and give its stock and its coupon back. False if it
    was not pending. Expiry (order_expire) and the customer's cancel both end here."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status != S.PENDING_PAYMENT:
            return False
        order.cancelled_at = timezone.now()
        order.cancel_reason = reason[:100]
        order_transition(order=order, to_status=S.CANCELLED, actor=actor, note=reason,
                         extra_fields=("cancelled_at", "cancel_reason"))
        stock_release(items={line.product_id: line.quantity for line in order.lines.all()},
                      reference=order.number)
        Payment.objects.filter(order=order, status=Payment.Status.CREATED).update(
            status=Payment.Status.CLOSED, updated_at=timezone.now())
        coupon_release(order_id=order.pk, reason=reason)  # the coupon goes back to the customer
    return True


def _close_at_wechatpay_or_settle(order: Order) -> str | None:
    """Make sure WeChat Pay will not take money for this order any more.

    Returns an outcome if it turns out the order was paid after all, None once it is closed.
    """
    backend = get_backend()
    tx = backend.pay_query(out_trade_no=order.payment.out_trade_no)
    if tx is None:
        return None  # never reached WeChat Pay: nothing to close
    if tx.trade_state == "SUCCESS":
        return payment_settle(transaction_data=tx, source_id=f"query:{tx.transaction_id}", source="query")
    if tx.trade_state == "NOTPAY":
        try:
            backend.pay_close(out_trade_no=order.payment.out_trade_no)
        except WeChatPayError as error:
            if error.code != "ORDERPAID":
                raise
            return payment_sync(order_id=order.pk)
    return None


def order_expire(*, order_id, now: datetime | None = None) -> str:
    """Close an order whose payment window has passed: settle it if it was paid, else cancel it."""
    now = now or timezone.now()
    order = Order.objects.select_related("payment").filter(pk=order_id).first()
    if order is None or order.status != S.PENDING_PAYMENT:
        return "not_pending"
    if order.expires_at > now:
        return "not_due"
    outcome = _close_at_wechatpay_or_settle(order)
    if outcome:
        return outcome
    return "cancelled" if order_cancel_unpaid(order_id=order.pk, reason="超时未支付，已自动取消",
                                              actor="system") else "not_pending"


def order_cancel_by_customer(*, order_id, customer_id, now: datetime | None = None) -> Order:
    """The customer's 取消订单: an unpaid order is closed at WeChat Pay and cancelled; a paid one
    before its cut-off is cancelled and refunded (changes.order_cancel_paid, which says why not after)."""
    order = Order.objects.select_related("payment").filter(pk=order_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    if order.status != S.PENDING_PAYMENT:
        from .changes import order_cancel_paid  # changes builds on this module

        return order_cancel_paid(order_id=order.pk, customer_id=customer_id, now=now)
    if _close_at_wechatpay_or_settle(order):
        raise Conflict("订单已支付，不能取消", code="order_already_paid")
    order_cancel_unpaid(order_id=order.pk, reason="客户取消", actor="customer")
    order.refresh_from_db()
    return order


def refund_submit(*, refund_id, notify_url: str = "") -> str:
    """Send a refund to WeChat Pay (or ask how it went). Safe to repeat: the refund number is the key.

    WeChat Pay then posts REFUND.* to the notify URL (refunds.refund_notification_receive); this
    query is the fallback. Only an open refund moves: a final one (succeeded, failed) stays.
    """
    refund = Refund.objects.select_related("order__payment", "order__visitor").filter(pk=refund_id).first()
    if refund is None:
        return "missing"
    if refund.status in (Refund.Status.SUCCEEDED, Refund.Status.FAILED):
        return refund.status
    backend = get_backend()
    payment = refund.order.payment
    try:
        if refund.status == Refund.Status.PROCESSING:
            result = backend.pay_query_refund(out_refund_no=refund.out_refund_no)
        else:
            result = backend.pay_refund(
                out_refund_no=refund.out_refund_no, out_trade_no=payment.out_trade_no,
                refund_fen=to_fen(refund.amount), total_fen=payment.amount_fen, reason=refund.reason,
                # Unset (dev, tests): WeChat Pay posts to the merchant's configured address; the dev
                # backend to the address its payment notification went to.
                notify_url=settings.WECHATPAY_NOTIFY_URL or notify_url,
            )
    except WeChatPayError as error:
        Refund.objects.filter(pk=refund.pk).update(last_error=str(error.message)[:200], updated_at=timezone.now())
        raise
    new_status, note = REFUND_OUTCOMES.get(result.status if result else "", (Refund.Status.PROCESSING, ""))
    succeeded_at = timezone.now() if new_status == Refund.Status.SUCCEEDED else None
    with transaction.atomic():
        # The order's lock first (seafood_b2b.locks), then the filter: a notification may have
        # finished the refund meanwhile, and then this changes nothing and tells nobody.
        Order.objects.select_for_update().filter(pk=refund.order_id).values_list("pk", flat=True).get()
        still_open = Refund.objects.filter(pk=refund.pk, status__in=[Refund.Status.PENDING, Refund.Status.PROCESSING])
        moved = still_open.update(
            status=new_status, refund_id=result.refund_id if result else "", last_error=note,
            succeeded_at=succeeded_at, updated_at=timezone.now(),
        )
        if moved:
            from reps import figures

            figures.changed_everyone()  # GMV nets refunds not failed; an .update(): no signal (reps.figures)
        if moved and new_status == Refund.Status.SUCCEEDED:
            refund.succeeded_at = succeeded_at
            refund_succeeded(refund=refund)
    return new_status


def refund_succeeded(*, refund: Refund) -> None:
    """退款成功: what follows a refund reaching the customer, once, in the transaction that marks it
    succeeded under the order's lock. `refund` has its order (with its visitor) loaded. Both ways a
    refund succeeds call this: the REFUND.SUCCESS notification (refunds.refund_notification_receive)
    and the query (refund_submit). The after-sales request it paid becomes 已退款, and the customer
    gets the message (orders/messages.py)."""
    from aftersales.services import requests_mark_refunded

    requests_mark_refunded(refund_id=refund.pk, refunded_at=refund.succeeded_at or timezone.now())
    message_refund_done(order=refund.order, refund=refund)
