"""The real WeChat Pay (API v3, JSAPI for the mini program) through the `wechatpayv3` SDK.

The SDK signs each request with the merchant's API key, and checks the platform signature of
every 2xx answer against WeChat Pay's public key (public-key mode: `PUB_KEY_ID_…`, so no
platform certificate is ever downloaded). It answers `(status_code, text)`; turning that into
`PayTransaction` / `RefundResult` / `WeChatPayError` with WeChat Pay's own `code` happens here,
so callers see the same contract as the dev backend's.

The SDK raises bare `Exception` (for a bad response signature among others) and `requests`
exceptions for transport problems; all of them become `WeChatPayError` (an
`ExternalServiceError`), with `details["reason"]` telling which. Nothing here logs a key, a
request header or a response body.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from wechatpayv3 import WeChatPay, WeChatPayType

from ..pay.types import PayTransaction, RefundResult, WeChatPayError
from .pay_base import PayMixin

logger = logging.getLogger("wechat")

# WeChat Pay reads time_expire as RFC 3339 and shows it to the buyer in Beijing time.
BEIJING = ZoneInfo("Asia/Shanghai")
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
REFUND_STATUSES = {"SUCCESS", "PROCESSING", "CLOSED", "ABNORMAL"}
_PREPAY_ID_MAX_LENGTH = 64  # orders.Payment.prepay_id; real ones are 36 characters
_LOG_MESSAGE_LIMIT = 300

# WeChat Pay's own `message` can be technical ("输入源“/body/payer/openid”…"); users get ours.
_MESSAGES = {
    "ORDERPAID": "该订单已支付",
    "ORDER_CLOSED": "该订单已关闭",
    "ORDER_NOT_EXIST": "订单不存在",
    "OUT_TRADE_NO_USED": "商户订单号重复",
    "PARAM_ERROR": "微信支付参数错误",
    "INVALID_REQUEST": "微信支付请求不符合业务规则",
    "RESOURCE_NOT_EXISTS": "订单不存在或未支付，不能退款",
    "NOT_ENOUGH": "商户账户可用余额不足，暂时无法退款",
    "FREQUENCY_LIMITED": "操作太频繁，请稍后再试",
}
# Answers that mean our configuration is wrong (keys, serials, appid/mchid binding): an operator's job.
_CONFIG_CODES = {"SIGN_ERROR", "APPID_MCHID_NOT_MATCH", "MCH_NOT_EXISTS", "NO_AUTH", "NOAUTH"}


def _param_error(message: str) -> WeChatPayError:
    return WeChatPayError(f"微信支付参数错误：{message}", code="PARAM_ERROR")


def _transport_error(*, api: str, reason: str, **details: Any) -> WeChatPayError:
    return WeChatPayError(details={"api": api, "reason": reason, **details})


# -- the SDK client, one per process and configuration ----------------------------------------------


@dataclass(frozen=True)
class PayConfig:
    mchid: str
    appid: str
    merchant_key_path: str
    merchant_cert_serial: str
    public_key_path: str
    public_key_id: str
    api_base: str
    timeout: float
    apiv3_key: str = field(repr=False)


def pay_config() -> PayConfig:
    required = {
        "WECHATPAY_MCHID": settings.WECHATPAY_MCHID,
        "WECHATPAY_MERCHANT_KEY_PATH": settings.WECHATPAY_MERCHANT_KEY_PATH,
        "WECHATPAY_MERCHANT_CERT_SERIAL": settings.WECHATPAY_MERCHANT_CERT_SERIAL,
        "WECHATPAY_PUBLIC_KEY_PATH": settings.WECHATPAY_PUBLIC_KEY_PATH,
        "WECHATPAY_PUBLIC_KEY_ID": settings.WECHATPAY_PUBLIC_KEY_ID,
        "WECHATPAY_APIV3_KEY": settings.WECHATPAY_APIV3_KEY,
        "WECHATPAY_API_BASE": settings.WECHATPAY_API_BASE,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ImproperlyConfigured(
            f"WECHAT_BACKEND=real needs {', '.join(missing)} for WeChat Pay "
            "(pay.weixin.qq.com → 账户中心 → API安全: API证书序列号与私钥, APIv3密钥, 微信支付公钥与公钥ID)."
        )
    return PayConfig(
        mchid=str(settings.WECHATPAY_MCHID), appid=settings.WECHAT_APPID,
        merchant_key_path=str(settings.WECHATPAY_MERCHANT_KEY_PATH),
        merchant_cert_serial=settings.WECHATPAY_MERCHANT_CERT_SERIAL,
        public_key_path=str(settings.WECHATPAY_PUBLIC_KEY_PATH), public_key_id=settings.WECHATPAY_PUBLIC_KEY_ID,
        api_base=settings.WECHATPAY_API_BASE.rstrip("/"), timeout=float(settings.WECHAT_HTTP_TIMEOUT),
        apiv3_key=settings.WECHATPAY_APIV3_KEY,
    )


def _read_pem(path: str, setting: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise ImproperlyConfigured(f"cannot read {setting} at {path!r}: {type(error).__name__}") from None


@lru_cache(maxsize=4)
def _client_for(config: PayConfig) -> WeChatPay:
    merchant_key = _read_pem(config.merchant_key_path, "WECHATPAY_MERCHANT_KEY_PATH")
    platform_key = _read_pem(config.public_key_path, "WECHATPAY_PUBLIC_KEY_PATH")
    try:
        client = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=config.mchid,
            private_key=merchant_key,
            cert_serial_no=config.merchant_cert_serial,
            appid=config.appid,
            apiv3_key=config.apiv3_key,
            # No default: every call passes its own notify_url, and a default would be used
            # silently by a refund that forgot to (the SDK falls back to it).
            notify_url=None,
            # Public-key mode: with the key and its id given, the SDK never downloads
            # /v3/certificates, and verifies answers signed under `PUB_KEY_ID_…`.
            public_key=platform_key,
            public_key_id=config.public_key_id,
            timeout=config.timeout,
            logger=None,  # its debug log prints request headers and bodies
        )
    except Exception as error:  # the SDK's "failed to load private key." and the like
        # Its message names no key material; ours names the settings to check.
        raise ImproperlyConfigured(
            f"wechatpayv3 refused the WeChat Pay keys ({error}); check WECHATPAY_MERCHANT_KEY_PATH "
            "(PKCS#8 PEM private key) and WECHATPAY_PUBLIC_KEY_PATH (PEM public key)."
        ) from None
    # wechatpayv3 2.0.4 hard-codes https://api.mch.weixin.qq.com in a private attribute and offers
    # no parameter for it. Setting it is the only way to honour WECHATPAY_API_BASE: WeChat Pay's
    # backup domain (api2.mch.weixin.qq.com) when the main one is unreachable, or a fake server on
    # loopback in tests. The version is pinned; fail loudly if an upgrade moves the attribute.
    if not isinstance(getattr(getattr(client, "_core", None), "_gate_way", None), str):
        raise ImproperlyConfigured("wechatpayv3 no longer has _core._gate_way; re-check WECHATPAY_API_BASE handling")
    client._core._gate_way = config.api_base
    return client


def pay_client() -> WeChatPay:
    """The SDK client for the current settings, built at first use and then reused."""
    return _client_for(pay_config())


def pay_client_reset() -> None:
    """Forget built clients (tests; a process whose key files were rotated)."""
    _client_for.cache_clear()


# -- input checks (what the SDK would otherwise reject with a bare Exception, or put in a URL path) --


def _check_out_trade_no(out_trade_no: str) -> None:
    # It also goes into URL paths (query, close): nothing but the documented characters.
    if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.match(out_trade_no):
        raise _param_error("out_trade_no 须为 6-32 位字母、数字或 _-|*")


def _check_out_refund_no(out_refund_no: str) -> None:
    if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.match(out_refund_no):
        raise _param_error("out_refund_no 须为 1-64 位字母、数字或 _-|*@")


def _check_fen(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _param_error(f"{name} 须为正整数（分）")


def _check_notify_url(url: str) -> None:
    parts = urlsplit(url or "")
    if parts.scheme != "https" or not parts.netloc or parts.query or len(url) > 255:
        raise _param_error("notify_url 须为不带查询参数的 https 地址，≤255 字符")


def _rfc3339_beijing(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise _param_error("time_expire 须带时区")
    return value.astimezone(BEIJING).isoformat(timespec="seconds")  # 2026-03-01T12:00:00+08:00


# -- answers ---------------------------------------------------------------------------------------


def _body_text(body: Any) -> str:
    # The SDK returns text for application/json answers and bytes for anything else.
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return body if isinstance(body, str) else ""


def _parse_object(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


class RealPayMixin(PayMixin):
    def _pay_call(self, api: str, send: Callable[[WeChatPay], tuple[int, Any]]) -> tuple[int, str]:
        """Run one SDK call; transport and signature failures become WeChatPayError."""
        client = pay_client()  # outside the try: a configuration error must surface as itself
        try:
            status, body = send(client)
        except requests.Timeout:
            logger.warning("WeChat Pay %s timed out", api)
            raise _transport_error(api=api, reason="timeout") from None
        except requests.RequestException as error:
            logger.warning("WeChat Pay %s unreachable: %s", api, type(error).__name__)
            raise _transport_error(api=api, reason="connection") from None
        except Exception as error:  # noqa: BLE001 - the SDK raises bare Exception
            text = str(error)
            if "verify the signature" in text or "does not support this algorithm" in text:
                # An answer we cannot prove came from WeChat Pay: act on nothing in it.
                logger.error("WeChat Pay %s answer failed signature verification", api)
                raise _transport_error(api=api, reason="bad_signature") from None
            logger.error("WeChat Pay %s failed in the SDK: %s: %s", api, type(error).__name__,
                         text[:_LOG_MESSAGE_LIMIT])
            raise _transport_error(api=api, reason="sdk_error") from None
        return status, _body_text(body)

    def _pay_error(self, api: str, status: int, text: str, *, routine: frozenset = frozenset()) -> WeChatPayError:
        """A non-2xx answer: WeChat Pay's `{code, message}` → WeChatPayError(code=<their code>).

        `routine` codes are an expected answer for this call (logged at INFO, not WARNING).
        """
        data = _parse_object(text) or {}
        code = data.get("code")
        if not isinstance(code, str) or not code:
            logger.warning("WeChat Pay %s answered HTTP %s without an error code", api, status)
            return _transport_error(api=api, reason="http_status", http_status=status)
        level = logging.ERROR if code in _CONFIG_CODES else logging.INFO if code in routine else logging.WARNING
        logger.log(level, "WeChat Pay %s refused: HTTP %s code=%s message=%s", api, status, code,
                   str(data.get("message", ""))[:_LOG_MESSAGE_LIMIT])
        return WeChatPayError(_MESSAGES.get(code), code=code, details={"api": api, "http_status": status})

    def _pay_answer(self, api: str, status: int, text: str) -> dict:
        if not 200 <= status < 300:
            raise self._pay_error(api, status, text)
        data = _parse_object(text)
        if data is None:
            logger.warning("WeChat Pay %s answered HTTP %s with a body that is not a JSON object", api, status)
            raise _transport_error(api=api, reason="bad_response")
        return data

    def _refund_result(self, api: str, data: dict, out_refund_no: str) -> RefundResult:
        status, refund_id = data.get("status"), data.get("refund_id")
        if (
            data.get("out_refund_no") != out_refund_no
            or status not in REFUND_STATUSES
            or not isinstance(refund_id, str)
            or not refund_id
        ):
            logger.warning("WeChat Pay %s answered an unusable refund (fields: %s)", api, sorted(data))
            raise _transport_error(api=api, reason="bad_response")
        return RefundResult(out_refund_no=out_refund_no, refund_id=refund_id, status=status)

    # -- the PayMixin interface ------------------------------------------------------------------

    def pay_prepay(self, *, out_trade_no, description, amount_fen, openid, time_expire, notify_url, attach=""):
        _check_out_trade_no(out_trade_no)
        if not isinstance(description, str) or not 0 < len(description) <= 127:
            raise _param_error("description 须为 1-127 字符")
        _check_fen(amount_fen, "amount.total")
        if not isinstance(openid, str) or not openid:
            raise _param_error("payer.openid 必填")
        if len(attach or "") > 128:
            raise _param_error("attach ≤128 字符")
        _check_notify_url(notify_url)
        expire = _rfc3339_beijing(time_expire) if time_expire is not None else None
        api = "pay_prepay"
        status, text = self._pay_call(api, lambda client: client.pay(
            description=description, out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"}, payer={"openid": openid},
            time_expire=expire, attach=attach or None, notify_url=notify_url,
            pay_type=WeChatPayType.MINIPROG,
        ))
        data = self._pay_answer(api, status, text)
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not 0 < len(prepay_id) <= _PREPAY_ID_MAX_LENGTH:
            logger.warning("WeChat Pay %s answered without a usable prepay_id (fields: %s)", api, sorted(data))
            raise _transport_error(api=api, reason="bad_response")
        return prepay_id

    def pay_query(self, *, out_trade_no):
        _check_out_trade_no(out_trade_no)
        api = "pay_query"
        status, text = self._pay_call(api, lambda client: client.query(out_trade_no=out_trade_no))
        if not 200 <= status < 300:
            error = self._pay_error(api, status, text, routine=frozenset({"ORDER_NOT_EXIST"}))
            # Only WeChat Pay's own "never heard of it" means None: a bare 404 from a proxy or a
            # wrong API base must not make an order look unknown (it would then be cancelled
            # without closing it at WeChat Pay).
            if error.code == "ORDER_NOT_EXIST":
                return None
            raise error
        data = self._pay_answer(api, status, text)
        if data.get("out_trade_no") != out_trade_no:
            logger.warning("WeChat Pay %s answered for another out_trade_no", api)
            raise _transport_error(api=api, reason="bad_response")
        amount = data.get("amount")
        if data.get("trade_state") not in ("SUCCESS", "REFUND") and not (
            isinstance(amount, dict) and "total" in amount
        ):
            # amount.total is optional in query answers; an unpaid order's total means nothing
            # to payment_settle (it ignores every state but SUCCESS), so 0 stands in for it.
            data = {**data, "amount": {**(amount if isinstance(amount, dict) else {}), "total": 0}}
        try:
            return PayTransaction.from_resource(data)
        except ValueError:
            logger.warning("WeChat Pay %s answered a transaction without an integer amount.total", api)
            raise _transport_error(api=api, reason="bad_response") from None

    def pay_close(self, *, out_trade_no):
        _check_out_trade_no(out_trade_no)
        api = "pay_close"
        status, text = self._pay_call(api, lambda client: client.close(out_trade_no=out_trade_no))
        if not 200 <= status < 300:  # 204 No Content is the success answer
            raise self._pay_error(api, status, text)

    def pay_refund(self, *, out_refund_no, out_trade_no, refund_fen, total_fen, reason, notify_url):
        _check_out_refund_no(out_refund_no)
        _check_out_trade_no(out_trade_no)
        _check_fen(refund_fen, "amount.refund")
        _check_fen(total_fen, "amount.total")
        if len(reason or "") > 80:
            raise _param_error("reason ≤80 字符")
        if notify_url:
            _check_notify_url(notify_url)
        api = "pay_refund"
        status, text = self._pay_call(api, lambda client: client.refund(
            out_refund_no=out_refund_no, out_trade_no=out_trade_no,
            amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
            reason=reason or None, notify_url=notify_url or None,
        ))
        return self._refund_result(api, self._pay_answer(api, status, text), out_refund_no)

    def pay_query_refund(self, *, out_refund_no):
        _check_out_refund_no(out_refund_no)
        api = "pay_query_refund"
        status, text = self._pay_call(api, lambda client: client.query_refund(out_refund_no=out_refund_no))
        if not 200 <= status < 300:
            error = self._pay_error(api, status, text, routine=frozenset({"RESOURCE_NOT_EXISTS"}))
            if error.code == "RESOURCE_NOT_EXISTS":
                return None
            raise error
        return self._refund_result(api, self._pay_answer(api, status, text), out_refund_no)
