from dataclasses import dataclass

from core.errors import ExternalServiceError


class WeChatPayError(ExternalServiceError):
    """WeChat Pay refused or failed a call. `code` is WeChat Pay's own (ORDERPAID, PARAM_ERROR…)."""

    code = "wechatpay_error"
    default_message = "微信支付暂时不可用，请稍后再试"


@dataclass(frozen=True)
class PayTransaction:
    """A JSAPI transaction as query and notification describe it (amounts in fen)."""

    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str
    amount_total_fen: int
    payer_openid: str
    success_time: str
    attach: str = ""

    @classmethod
    def from_resource(cls, data: dict) -> "PayTransaction":
        amount = data.get("amount") or {}
        payer = data.get("payer") or {}
        total = amount.get("total")
        if not isinstance(total, int) or isinstance(total, bool):
            raise ValueError("amount.total must be an integer number of fen")
        return cls(
            appid=str(data.get("appid", "")),
            mchid=str(data.get("mchid", "")),
            out_trade_no=str(data.get("out_trade_no", "")),
            transaction_id=str(data.get("transaction_id", "") or ""),
            trade_state=str(data.get("trade_state", "")),
            amount_total_fen=total,
            payer_openid=str(payer.get("openid", "")),
            success_time=str(data.get("success_time", "") or ""),
            attach=str(data.get("attach", "") or ""),
        )


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    refund_id: str
    status: str  # SUCCESS, PROCESSING, CLOSED, ABNORMAL


REFUND_EVENT_STATUSES = {"REFUND.SUCCESS": "SUCCESS", "REFUND.ABNORMAL": "ABNORMAL", "REFUND.CLOSED": "CLOSED"}


def _fen(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer number of fen")
    return value


@dataclass(frozen=True)
class RefundNotice:
    """The decrypted resource of a REFUND.* notification (amounts in fen).

    Its fields differ from a refund query's: `refund_status` rather than `status`, and `mchid`.
    """

    mchid: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    refund_status: str
    success_time: str
    user_received_account: str
    amount_total_fen: int
    amount_refund_fen: int

    @classmethod
    def from_resource(cls, data: dict) -> "RefundNotice":
        amount = data.get("amount")
        if not isinstance(amount, dict):
            raise ValueError("amount is missing")
        notice = cls(
            mchid=str(data.get("mchid", "") or ""),
            out_trade_no=str(data.get("out_trade_no", "") or ""),
            transaction_id=str(data.get("transaction_id", "") or ""),
            out_refund_no=str(data.get("out_refund_no", "") or ""),
            refund_id=str(data.get("refund_id", "") or ""),
            refund_status=str(data.get("refund_status", "") or ""),
            success_time=str(data.get("success_time", "") or ""),
            user_received_account=str(data.get("user_received_account", "") or ""),
            amount_total_fen=_fen(amount.get("total"), "amount.total"),
            amount_refund_fen=_fen(amount.get("refund"), "amount.refund"),
        )
        if not (notice.out_refund_no and notice.refund_id and notice.refund_status):
            raise ValueError("out_refund_no, refund_id and refund_status are required")
        return notice
