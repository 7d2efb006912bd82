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
