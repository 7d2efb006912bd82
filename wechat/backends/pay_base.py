"""The WeChat Pay half of a backend. Signing requestPayment and verifying notifications are
shared (the dev backend signs with its own keys, so the server's verify path is the real one)."""

from datetime import datetime

from django.conf import settings

from ..pay import crypto, keys
from ..pay.types import PayTransaction, RefundResult


class PayMixin:
    def pay_prepay(self, *, out_trade_no: str, description: str, amount_fen: int, openid: str,
                   time_expire: datetime, notify_url: str, attach: str = "") -> str:
        """JSAPI prepay; returns prepay_id. Same parameters again before expiry: a fresh prepay_id."""
        raise NotImplementedError

    def pay_query(self, *, out_trade_no: str) -> PayTransaction | None:
        """The transaction as WeChat Pay knows it; None if WeChat Pay has never heard of it."""
        raise NotImplementedError

    def pay_close(self, *, out_trade_no: str) -> None:
        raise NotImplementedError

    def pay_refund(self, *, out_refund_no: str, out_trade_no: str, refund_fen: int, total_fen: int,
                   reason: str, notify_url: str) -> RefundResult:
        raise NotImplementedError

    def pay_query_refund(self, *, out_refund_no: str) -> RefundResult | None:
        raise NotImplementedError

    def pay_request_params(self, *, prepay_id: str) -> dict:
        return crypto.request_payment_params(
            appid=settings.WECHAT_APPID, prepay_id=prepay_id, merchant_key=keys.merchant_private_key()
        )

    def pay_parse_notification(self, *, headers, body: bytes) -> crypto.Notification:
        """Verify signature and timestamp, decrypt. Raises crypto.NotificationRejected."""
        return crypto.verify_notification(
            headers=headers, body=body, public_keys=keys.platform_public_keys(),
            apiv3_key=settings.WECHATPAY_APIV3_KEY,
        )
