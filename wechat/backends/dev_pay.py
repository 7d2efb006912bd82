"""The dev backend's WeChat Pay: a faithful local stand-in for the v3 JSAPI server.

It keeps its transactions in `wechat.DevPayTransaction`, enforces the documented field rules,
and when the buyer confirms on the dev pay sheet it sends the v3 notification — signed headers,
AES-256-GCM resource — to the merchant's notify_url, twice by default, as WeChat Pay may.
"""

import re
import secrets
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.sql import Prepared, insert_statement, parameter_type
from core.tasks import enqueue_on_commit

from ..models import DevPayTransaction, DevRefund
from ..pay.types import PayTransaction, RefundResult, WeChatPayError
from .pay_base import PayMixin

OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}\Z")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}\Z")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "testserver", "[::1]"}
_NEW_TRANSACTION_FIELDS = ("out_trade_no", "appid", "mchid", "description", "amount_fen", "openid", "notify_url",
                           "attach", "time_expire", "prepay_id", "state", "transaction_id", "created_at")


@lru_cache(maxsize=None)
def _new_transaction_statement() -> Prepared:
    sql, _ = insert_statement(DevPayTransaction, _NEW_TRANSACTION_FIELDS, [(None,) * len(_NEW_TRANSACTION_FIELDS)])
    return Prepared("devpay_new_transaction", sql + " ON CONFLICT DO NOTHING",
                    tuple(parameter_type(DevPayTransaction, name) for name in _NEW_TRANSACTION_FIELDS))


def _param_error(message: str) -> WeChatPayError:
    return WeChatPayError(f"微信支付参数错误：{message}", code="PARAM_ERROR")


def _check_notify_url(url: str) -> None:
    parts = urlsplit(url or "")
    if len(url) > 255 or parts.query or not parts.netloc:
        raise _param_error("notify_url 须为不带查询参数的完整地址，≤255 字符")
    # WeChat Pay requires https; the dev server also accepts plain http to this machine.
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS | {"::1"}):
        raise _param_error("notify_url 须为 https")


def _resource(tx: DevPayTransaction) -> dict:
    data = {
        "appid": tx.appid,
        "mchid": tx.mchid,
        "out_trade_no": tx.out_trade_no,
        "transaction_id": tx.transaction_id,
        "trade_type": "JSAPI",
        "trade_state": tx.state,
        "trade_state_desc": tx.get_state_display(),
        "bank_type": "OTHERS",
        "attach": tx.attach,
        "success_time": timezone.localtime(tx.success_time).isoformat(timespec="seconds") if tx.success_time else "",
        "payer": {"openid": tx.openid},
        "amount": {"total": tx.amount_fen, "payer_total": tx.amount_fen, "currency": "CNY", "payer_currency": "CNY"},
    }
    return data


def dev_refund_resource(out_refund_no: str) -> dict | None:
    """A dev refund as WeChat Pay's REFUND.* notification describes it (its decrypted resource)."""
    refund = DevRefund.objects.filter(out_refund_no=out_refund_no).first()
    if refund is None:
        return None
    tx = DevPayTransaction.objects.filter(out_trade_no=refund.out_trade_no).first()
    return {
        "mchid": tx.mchid if tx else settings.WECHATPAY_MCHID,
        "transaction_id": tx.transaction_id if tx else "",
        "out_trade_no": refund.out_trade_no,
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "refund_status": refund.status,
        "success_time": (timezone.localtime(refund.created_at).isoformat(timespec="seconds")
                         if refund.status == "SUCCESS" else ""),
        "user_received_account": "支付用户零钱",
        "amount": {"total": refund.total_fen, "refund": refund.amount_fen, "payer_total": refund.total_fen,
                   "payer_refund": refund.amount_fen},
    }


def dev_transaction_resource(out_trade_no: str) -> dict | None:
    tx = DevPayTransaction.objects.filter(out_trade_no=out_trade_no).first()
    return _resource(tx) if tx else None


class DevPayMixin(PayMixin):
    def pay_prepay(self, *, out_trade_no, description, amount_fen, openid, time_expire, notify_url, attach=""):
        if not OUT_TRADE_NO.match(out_trade_no or ""):
            raise _param_error("out_trade_no 须为 6-32 位字母、数字或 _-|*")
        if not description or len(description) > 127:
            raise _param_error("description 须为 1-127 字符")
        if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
            raise _param_error("amount.total 须为正整数（分）")
        if not openid:
            raise _param_error("payer.openid 必填")
        if len(attach) > 128:
            raise _param_error("attach ≤128 字符")
        _check_notify_url(notify_url)
        now = timezone.now()
        if time_expire is not None and not (now + timedelta(minutes=1) <= time_expire <= now + timedelta(days=90)):
            raise _param_error("time_expire 须在 1 分钟到 90 天之后")

        prepay_id = "wx" + now.strftime("%d%H%M%S") + secrets.token_hex(12)
        # One statement: a new out_trade_no is stored; a known one (a retry, or a simultaneous
        # first call) is left alone and the rules below apply. It stands for WeChat's own
        # servers: no need to wait for the disk.
        row = (out_trade_no, settings.WECHAT_APPID, settings.WECHATPAY_MCHID, description, amount_fen, openid,
               notify_url, attach, time_expire, prepay_id, DevPayTransaction.State.NOTPAY, "", now)
        with connection.cursor() as cursor:  # on every checkout: parsed and planned once per connection
            _new_transaction_statement().execute(cursor, list(row), without_waiting_for_disk=True)
            if cursor.rowcount == 1:
                return prepay_id
        with transaction.atomic():
            tx = DevPayTransaction.objects.select_for_update().get(out_trade_no=out_trade_no)
            if tx.state == DevPayTransaction.State.SUCCESS:
                raise WeChatPayError("该订单已支付", code="ORDERPAID")
            if tx.state == DevPayTransaction.State.CLOSED or (tx.time_expire and tx.time_expire <= now):
                raise WeChatPayError("该订单已关闭", code="ORDER_CLOSED")
            if (tx.amount_fen, tx.openid, tx.description) != (amount_fen, openid, description):
                raise WeChatPayError("商户订单号重复，且参数不一致", code="INVALID_REQUEST")
            # Same parameters before expiry: a fresh prepay_id; time_expire only counts the first time.
            tx.prepay_id = prepay_id
            tx.save(update_fields=["prepay_id"])
            return prepay_id

    def pay_query(self, *, out_trade_no):
        resource = dev_transaction_resource(out_trade_no)
        return PayTransaction.from_resource(resource) if resource else None

    def pay_close(self, *, out_trade_no):
        with transaction.atomic():
            tx = DevPayTransaction.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if tx is None:
                raise WeChatPayError("订单不存在", code="ORDER_NOT_EXIST")
            if tx.state in (DevPayTransaction.State.SUCCESS, DevPayTransaction.State.REFUND):
                raise WeChatPayError("该订单已支付", code="ORDERPAID")
            tx.state = DevPayTransaction.State.CLOSED
            tx.save(update_fields=["state"])

    def pay_refund(self, *, out_refund_no, out_trade_no, refund_fen, total_fen, reason, notify_url):
        if not OUT_REFUND_NO.match(out_refund_no or ""):
            raise _param_error("out_refund_no 须为 1-64 位字母、数字或 _-|*@")
        if len(reason or "") > 80:
            raise _param_error("reason ≤80 字符")
        if notify_url:
            _check_notify_url(notify_url)
        from ..tasks import dev_deliver_refund_notification

        with transaction.atomic():
            existing = DevRefund.objects.filter(out_refund_no=out_refund_no).first()
            if existing:  # the same refund number refunds once; a retry gets the same answer
                return RefundResult(existing.out_refund_no, existing.refund_id, existing.status)
            tx = DevPayTransaction.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if tx is None or tx.state not in (DevPayTransaction.State.SUCCESS, DevPayTransaction.State.REFUND):
                raise WeChatPayError("订单未支付，不能退款", code="RESOURCE_NOT_EXISTS")
            if total_fen != tx.amount_fen:
                raise _param_error("amount.total 与原订单金额不一致")
            refunded = sum(DevRefund.objects.filter(out_trade_no=out_trade_no).values_list("amount_fen", flat=True))
            if refund_fen <= 0 or refunded + refund_fen > tx.amount_fen:
                raise WeChatPayError("退款金额超过可退金额", code="NOT_ENOUGH")
            refund = DevRefund.objects.create(
                out_refund_no=out_refund_no, out_trade_no=out_trade_no, amount_fen=refund_fen,
                total_fen=total_fen, reason=reason or "", refund_id="50" + secrets.token_hex(14)[:28],
                # No notify_url: WeChat Pay uses the one configured for the merchant; here, the payment's.
                notify_url=notify_url or tx.notify_url,
            )
            tx.state = DevPayTransaction.State.REFUND
            tx.save(update_fields=["state"])
            if refund.notify_url:
                for _ in range(2 if settings.WECHATPAY_DEV_DUPLICATE_NOTIFY else 1):
                    enqueue_on_commit(dev_deliver_refund_notification, refund.out_refund_no)
        # Accepted is not done: like WeChat Pay, answer PROCESSING; a query then says SUCCESS, and
        # the REFUND.SUCCESS notification goes to notify_url after this answer.
        return RefundResult(refund.out_refund_no, refund.refund_id, "PROCESSING")

    def pay_query_refund(self, *, out_refund_no):
        refund = DevRefund.objects.filter(out_refund_no=out_refund_no).first()
        return RefundResult(refund.out_refund_no, refund.refund_id, refund.status) if refund else None

    # What the buyer's tap on the dev pay sheet does.
    def dev_pay_confirm(self, *, prepay_id: str) -> DevPayTransaction:
        from ..tasks import dev_deliver_pay_notification

        with transaction.atomic():
            tx = DevPayTransaction.objects.select_for_update().filter(prepay_id=prepay_id).first()
            if tx is None:
                raise WeChatPayError("支付单不存在或已失效", code="ORDER_NOT_EXIST")
            if tx.state == DevPayTransaction.State.SUCCESS:
                return tx
            if tx.state != DevPayTransaction.State.NOTPAY or (tx.time_expire and tx.time_expire <= timezone.now()):
                raise WeChatPayError("该订单已关闭，无法支付", code="ORDER_CLOSED")
            tx.state = DevPayTransaction.State.SUCCESS
            tx.transaction_id = "4200" + timezone.now().strftime("%Y%m%d") + f"{secrets.randbelow(10**16):016d}"
            tx.success_time = timezone.now()
            tx.save(update_fields=["state", "transaction_id", "success_time"])
            copies = 2 if settings.WECHATPAY_DEV_DUPLICATE_NOTIFY else 1
            for _ in range(copies):
                enqueue_on_commit(dev_deliver_pay_notification, tx.out_trade_no)
        return tx
