"""A fake WeChat Pay API v3 on loopback, for testing the `real` backend (wechatpayv3) over HTTP.

What it holds to, as WeChat Pay does:

- Every request must carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"`, signed with the merchant's API key over
  "METHOD\\nURL_PATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n". A request that fails the check gets
  401 SIGN_ERROR and is recorded in `auth_failures`; the fixture fails the test if any was, so a
  wrongly signed request cannot pass unnoticed even where the code maps the 401 to an error.
- Every answer (2xx, 204 included with an empty body line) is signed with the platform key and
  carries Wechatpay-Serial (the public key id), -Timestamp, -Nonce, -Signature, -Signature-Type;
  wechatpayv3 refuses a 2xx answer without them.
- The JSAPI order, query, close and refund APIs keep state and answer the documented errors
  ({"code", "message"} with the HTTP status WeChat Pay uses).

Usage (with `wechatpay_real`, which also points the settings at the fake):

    def test_x(wechatpay_real):
        prepay_id = get_backend().pay_prepay(...)
        wechatpay_real.pay("ORDER123")                   # the buyer pays in WeChat
        wechatpay_real.respond_once(QUERY_PATH, status=500, json={"code": "SYSTEM_ERROR", ...})
        wechatpay_real.respond_once(QUERY_PATH, signature="wrong_key")   # normal answer, bad signature
        wechatpay_real.respond_once(QUERY_PATH, delay=1.0)               # slow, for timeouts

HTTP statuses of the error answers follow WeChat Pay's error tables as far as they could be
checked (ORDERPAID's and ORDER_CLOSED's statuses were not); the backend maps by `code`.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from wechat.pay import crypto

from .fake_server import FAKE_APPID

FAKE_MCHID = "1230000109"
FAKE_MERCHANT_CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
FAKE_PUBLIC_KEY_ID = "PUB_KEY_ID_0112300001092024010100000000000001"
FAKE_APIV3_KEY = "fakeapiv3key0000fakeapiv3key0032"
BEIJING = ZoneInfo("Asia/Shanghai")
SCHEME = "WECHATPAY2-SHA256-RSA2048"
MAX_REQUEST_SKEW = 300  # WeChat Pay refuses Authorization timestamps more than 5 minutes off

JSAPI = "/v3/pay/transactions/jsapi"
REFUNDS = "/v3/refund/domestic/refunds"
CERTIFICATES = "/v3/certificates"
_QUERY = re.compile(r"^/v3/pay/transactions/out-trade-no/([^/]+)$")
_CLOSE = re.compile(r"^/v3/pay/transactions/out-trade-no/([^/]+)/close$")
_REFUND = re.compile(r"^/v3/refund/domestic/refunds/([^/]+)$")
_OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
_OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def query_path(out_trade_no: str) -> str:
    return f"/v3/pay/transactions/out-trade-no/{out_trade_no}"


def close_path(out_trade_no: str) -> str:
    return f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close"


def refund_path(out_refund_no: str) -> str:
    return f"{REFUNDS}/{out_refund_no}"


def _beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _now() -> datetime:
    return datetime.now(tz=BEIJING)


# -- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayKeys:
    """The merchant's API key pair and WeChat Pay's platform key pair, PEMs written to disk."""

    merchant_key: Any
    platform_key: Any
    impostor_key: Any  # signs answers that must be refused
    merchant_key_path: Path
    platform_public_key_path: Path

    @property
    def merchant_public_key(self):
        return self.merchant_key.public_key()


def make_pay_keys(directory: Path) -> PayKeys:
    directory.mkdir(parents=True, exist_ok=True)
    merchant, platform, impostor = (crypto.generate_private_key() for _ in range(3))
    merchant_path = directory / "apiclient_key.pem"
    platform_path = directory / "pub_key.pem"
    merchant_path.write_bytes(crypto.private_key_pem(merchant))
    platform_path.write_bytes(crypto.public_key_pem(platform.public_key()))
    return PayKeys(merchant, platform, impostor, merchant_path, platform_path)


# -- state ------------------------------------------------------------------------------------------


@dataclass
class FakeTransaction:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    amount_fen: int
    openid: str
    notify_url: str
    attach: str
    time_expire: datetime | None
    prepay_ids: list[str] = field(default_factory=list)
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    refunded_fen: int = 0


@dataclass
class FakeRefund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    refund_fen: int
    total_fen: int
    reason: str
    notify_url: str
    create_time: str
    status: str = "PROCESSING"
    success_time: str = ""


@dataclass
class PayCall:
    """One request the fake received, with the outcome of its Authorization check."""

    method: str
    path: str
    target: str  # path with query string, as signed
    args: dict[str, str]
    json: Any
    body: str
    headers: dict[str, str]
    auth_problem: str | None


@dataclass
class _Scripted:
    status: int | None = None
    json: Any = None
    body: str | None = None
    delay: float = 0.0
    signature: str = "valid"


_TRADE_STATE_DESC = {"SUCCESS": "支付成功", "NOTPAY": "订单未支付", "CLOSED": "订单已关闭", "REFUND": "转入退款"}


@dataclass
class FakeWeChatPay:
    server: HTTPServer
    keys: PayKeys
    appid: str = FAKE_APPID
    mchid: str = FAKE_MCHID
    merchant_cert_serial: str = FAKE_MERCHANT_CERT_SERIAL
    public_key_id: str = FAKE_PUBLIC_KEY_ID
    apiv3_key: str = FAKE_APIV3_KEY
    # The merchant account's available balance: a refund beyond it answers NOT_ENOUGH.
    merchant_balance_fen: int = 10**9
    # amount.total is optional in query answers; False leaves it out for unpaid orders.
    unpaid_query_has_total: bool = True
    transactions: dict[str, FakeTransaction] = field(default_factory=dict)
    refunds: dict[str, FakeRefund] = field(default_factory=dict)
    calls_log: list[PayCall] = field(default_factory=list)
    auth_failures: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.RLock()
        self._scripted: dict[str, deque[_Scripted]] = defaultdict(deque)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    # -- test controls --------------------------------------------------------------------------

    def respond_once(self, path: str, *, status: int | None = None, json: Any = None, body: str | None = None,
                     delay: float = 0.0, signature: str = "valid") -> None:
        """The next call to `path` (no query string) gets this instead of the route's answer.

        Without status/json/body the route answers normally, after `delay`, signed as
        `signature` says: "valid", "wrong_key" (signed by another key), "tampered" (body changed
        after signing), "missing" (no Wechatpay-* headers) or "unknown_serial".
        """
        self._scripted[path].append(_Scripted(status, json, body, delay, signature))

    def calls(self, path: str | None = None) -> list[PayCall]:
        with self._lock:
            return [c for c in self.calls_log if path is None or c.path == path]

    def pay(self, out_trade_no: str, *, openid: str | None = None) -> FakeTransaction:
        """The buyer confirms the payment in WeChat."""
        with self._lock:
            tx = self.transactions[out_trade_no]
            assert tx.state == "NOTPAY", f"cannot pay a {tx.state} order"
            tx.state = "SUCCESS"
            tx.transaction_id = "4200" + _now().strftime("%Y%m%d") + f"{secrets.randbelow(10**16):016d}"
            tx.success_time = _beijing(_now())
            if openid:
                tx.openid = openid
            return tx

    def refund_settle(self, out_refund_no: str, status: str = "SUCCESS") -> FakeRefund:
        """WeChat Pay finishes a refund it had accepted (PROCESSING → SUCCESS / CLOSED / ABNORMAL)."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = _beijing(_now())
            return refund

    def transaction_resource(self, out_trade_no: str) -> dict:
        """The transaction as query answers and notifications describe it."""
        with self._lock:
            tx = self.transactions[out_trade_no]
            data: dict[str, Any] = {
                "appid": tx.appid,
                "mchid": tx.mchid,
                "out_trade_no": tx.out_trade_no,
                "trade_type": "JSAPI",
                "trade_state": tx.state,
                "trade_state_desc": _TRADE_STATE_DESC[tx.state],
                "attach": tx.attach,
                "promotion_detail": [],
            }
            if tx.state in ("SUCCESS", "REFUND"):
                data.update({
                    "transaction_id": tx.transaction_id,
                    "bank_type": "OTHERS",
                    "success_time": tx.success_time,
                    "payer": {"openid": tx.openid},
                    "amount": {"total": tx.amount_fen, "payer_total": tx.amount_fen, "currency": "CNY",
                               "payer_currency": "CNY"},
                })
            else:
                amount = {"payer_currency": "CNY"}
                if self.unpaid_query_has_total:
                    amount["total"] = tx.amount_fen
                data["amount"] = amount
            return data

    def notification(self, out_trade_no: str) -> tuple[dict, bytes]:
        """The TRANSACTION.SUCCESS notification WeChat Pay would POST for a paid order."""
        return crypto.build_notification(
            event_type="TRANSACTION.SUCCESS", resource=self.transaction_resource(out_trade_no),
            platform_key=self.keys.platform_key, serial=self.public_key_id, apiv3_key=self.apiv3_key,
            summary="支付成功",
        )

    def refund_notice_resource(self, out_refund_no: str) -> dict:
        """A refund as its REFUND.* notification describes it (`refund_status`, `mchid`)."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            return {
                "mchid": self.mchid, "transaction_id": refund.transaction_id, "out_trade_no": refund.out_trade_no,
                "refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no,
                "refund_status": refund.status, "success_time": refund.success_time,
                "user_received_account": "支付用户零钱",
                "amount": {"total": refund.total_fen, "refund": refund.refund_fen, "payer_total": refund.total_fen,
                           "payer_refund": refund.refund_fen},
            }

    def refund_notification(self, out_refund_no: str) -> tuple[dict, bytes]:
        """The REFUND.<status> notification WeChat Pay would POST once a refund is settled."""
        resource = self.refund_notice_resource(out_refund_no)
        return crypto.build_notification(
            event_type=f"REFUND.{resource['refund_status']}", resource=resource,
            platform_key=self.keys.platform_key, serial=self.public_key_id, apiv3_key=self.apiv3_key,
            summary="退款状态变化", original_type="refund",
        )

    # -- the wire -------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        raw = request.get_data()
        text = raw.decode("utf-8", errors="replace")
        target = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        problem = self._auth_problem(request, target, text)
        try:
            body = jsonlib.loads(text) if text else None
        except ValueError:
            body = None
        with self._lock:
            self.calls_log.append(PayCall(request.method, request.path, target, dict(request.args), body, text,
                                          dict(request.headers), problem))
            if problem:
                self.auth_failures.append(f"{request.method} {target}: {problem}")
            scripted = self._scripted[request.path].popleft() if self._scripted.get(request.path) else None
        if problem:
            return self._answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        signature = scripted.signature if scripted else "valid"
        if scripted and scripted.delay:
            time.sleep(scripted.delay)
        if scripted and (scripted.status is not None or scripted.json is not None or scripted.body is not None):
            status = scripted.status or 200
            if scripted.json is not None:
                return self._answer(status, scripted.json, signature=signature)
            return self._answer(status, raw_body=scripted.body or "", signature=signature)
        status, answer = self._route(request.method, request.path, request.args, body)
        return self._answer(status, answer, signature=signature)

    def _auth_problem(self, request: Request, target: str, body: str) -> str | None:
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        if scheme != SCHEME:
            return f"Authorization scheme {scheme!r}"
        fields = dict(_AUTH_PARAM.findall(params))
        missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - set(fields)
        if missing:
            return f"Authorization lacks {sorted(missing)}"
        if fields["mchid"] != self.mchid:
            return f"mchid {fields['mchid']!r}"
        if fields["serial_no"] != self.merchant_cert_serial:
            return f"merchant certificate serial {fields['serial_no']!r}"
        if not fields["timestamp"].isdigit() or abs(time.time() - int(fields["timestamp"])) > MAX_REQUEST_SKEW:
            return "timestamp outside 5 minutes"
        message = f"{request.method}\n{target}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
        if not crypto.rsa_verify(self.keys.merchant_public_key, message, fields["signature"]):
            return "signature does not verify with the merchant key"
        # Public-key mode: the SDK names the platform key it expects answers under.
        serial = request.headers.get("Wechatpay-Serial")
        if serial is not None and serial != self.public_key_id:
            return f"Wechatpay-Serial {serial!r}"
        return None

    def _answer(self, status: int, data: Any = None, *, raw_body: str | None = None,
                signature: str = "valid") -> Response:
        if raw_body is not None:
            text = raw_body
        else:
            text = "" if data is None else jsonlib.dumps(data, ensure_ascii=False, separators=(",", ":"))
        timestamp, nonce = str(int(time.time())), crypto.new_nonce()
        key = self.keys.impostor_key if signature == "wrong_key" else self.keys.platform_key
        signed = crypto.rsa_sign(key, f"{timestamp}\n{nonce}\n{text}\n")
        if signature == "tampered":
            text = text.replace("SUCCESS", "NOTPAY", 1) if "SUCCESS" in text else text + " "
        response = Response(text.encode("utf-8"), status=status)
        if text:
            response.headers["Content-Type"] = "application/json; charset=utf-8"
        else:
            del response.headers["Content-Type"]
        response.headers["Request-ID"] = secrets.token_hex(16)
        if signature != "missing":
            response.headers["Wechatpay-Serial"] = (
                "PUB_KEY_ID_0000000000000000000000UNKNOWN" if signature == "unknown_serial" else self.public_key_id
            )
            response.headers["Wechatpay-Timestamp"] = timestamp
            response.headers["Wechatpay-Nonce"] = nonce
            response.headers["Wechatpay-Signature"] = signed
            response.headers["Wechatpay-Signature-Type"] = SCHEME
        return response

    # -- WeChat Pay's APIs ----------------------------------------------------------------------

    def _route(self, method: str, path: str, args, body: Any) -> tuple[int, Any]:
        with self._lock:
            if method == "POST" and path == JSAPI:
                return self._jsapi(body)
            if method == "POST" and path == REFUNDS:
                return self._refund(body)
            if method == "GET" and (match := _QUERY.match(path)):
                return self._query(match.group(1), args)
            if method == "POST" and (match := _CLOSE.match(path)):
                return self._close(match.group(1), body)
            if method == "GET" and (match := _REFUND.match(path)):
                return self._query_refund(match.group(1))
            if method == "GET" and path == CERTIFICATES:
                # Assumed: a merchant in public-key mode has no platform certificate to list.
                return 200, {"data": []}
        # Loud, so that a typo in a path cannot pass for a WeChat Pay answer.
        return 404, {"code": "FAKE_NO_ROUTE", "message": f"fake WeChat Pay has no route for {method} {path}"}

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[int, dict]:
        return status, {"code": code, "message": message}

    def _jsapi(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return self._error(400, "PARAM_ERROR", "请求体不是合法的JSON")
        if body.get("appid") != self.appid or body.get("mchid") != self.mchid:
            return self._error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        description, out_trade_no = body.get("description"), body.get("out_trade_no")
        notify_url, amount, payer = body.get("notify_url"), body.get("amount"), body.get("payer")
        attach, time_expire = body.get("attach", ""), body.get("time_expire")
        if not isinstance(description, str) or not 0 < len(description) <= 127:
            return self._error(400, "PARAM_ERROR", "description 长度不符合规则")
        if not isinstance(out_trade_no, str) or not _OUT_TRADE_NO.match(out_trade_no):
            return self._error(400, "PARAM_ERROR", "out_trade_no 格式不符合规则")
        if not _https_without_query(notify_url):
            return self._error(400, "PARAM_ERROR", "notify_url 格式不符合规则")
        total = amount.get("total") if isinstance(amount, dict) else None
        if (
            not isinstance(total, int) or isinstance(total, bool) or total <= 0
            or amount.get("currency", "CNY") != "CNY"
        ):
            return self._error(400, "PARAM_ERROR", "amount 不符合规则")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        if not isinstance(openid, str) or not openid:
            return self._error(400, "PARAM_ERROR", "payer.openid 必填")
        if not isinstance(attach, str) or len(attach) > 128:
            return self._error(400, "PARAM_ERROR", "attach 长度不符合规则")
        expire = None
        if time_expire is not None:
            if not isinstance(time_expire, str) or not _RFC3339.match(time_expire):
                return self._error(400, "PARAM_ERROR", "time_expire 须为 RFC3339 格式")
            expire = datetime.fromisoformat(time_expire.replace("Z", "+00:00"))
        now = _now()
        existing = self.transactions.get(out_trade_no)
        if existing is None:
            if expire is not None and not now + timedelta(minutes=1) <= expire <= now + timedelta(days=90):
                return self._error(400, "PARAM_ERROR", "time_expire 须在 1 分钟到 90 天之后")
            existing = self.transactions[out_trade_no] = FakeTransaction(
                out_trade_no=out_trade_no, appid=self.appid, mchid=self.mchid, description=description,
                amount_fen=total, openid=openid, notify_url=notify_url, attach=attach, time_expire=expire,
            )
        else:
            if existing.state in ("SUCCESS", "REFUND"):
                return self._error(403, "ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED" or (existing.time_expire and existing.time_expire <= now):
                return self._error(400, "ORDER_CLOSED", "订单已关闭")
            if (existing.description, existing.amount_fen, existing.openid) != (description, total, openid):
                return self._error(400, "INVALID_REQUEST", "201 商户订单号重复")
            # time_expire counts the first time only; the same order again gets a fresh prepay_id.
        prepay_id = "wx" + now.strftime("%d%H%M%S") + secrets.token_hex(13)
        existing.prepay_ids.append(prepay_id)
        return 200, {"prepay_id": prepay_id}

    def _query(self, out_trade_no: str, args) -> tuple[int, Any]:
        if args.get("mchid") != self.mchid:
            return self._error(400, "PARAM_ERROR", "mchid 与请求方不一致")
        if out_trade_no not in self.transactions:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        return 200, self.transaction_resource(out_trade_no)

    def _close(self, out_trade_no: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or body.get("mchid") != self.mchid:
            return self._error(400, "PARAM_ERROR", "mchid 与请求方不一致")
        tx = self.transactions.get(out_trade_no)
        if tx is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        if tx.state in ("SUCCESS", "REFUND"):
            return self._error(403, "ORDERPAID", "订单已支付")
        tx.state = "CLOSED"
        return 204, None

    def _refund(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return self._error(400, "PARAM_ERROR", "请求体不是合法的JSON")
        out_refund_no, amount = body.get("out_refund_no"), body.get("amount")
        reason, notify_url = body.get("reason", ""), body.get("notify_url")
        if not isinstance(out_refund_no, str) or not _OUT_REFUND_NO.match(out_refund_no):
            return self._error(400, "PARAM_ERROR", "out_refund_no 格式不符合规则")
        if not (body.get("out_trade_no") or body.get("transaction_id")):
            return self._error(400, "PARAM_ERROR", "transaction_id 和 out_trade_no 须填一个")
        if not isinstance(reason, str) or len(reason) > 80:
            return self._error(400, "PARAM_ERROR", "reason 长度不符合规则")
        if notify_url is not None and not _https_without_query(notify_url):
            return self._error(400, "PARAM_ERROR", "notify_url 格式不符合规则")
        refund_fen = amount.get("refund") if isinstance(amount, dict) else None
        total_fen = amount.get("total") if isinstance(amount, dict) else None
        if (
            not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (refund_fen, total_fen))
            or amount.get("currency") != "CNY"
        ):
            return self._error(400, "PARAM_ERROR", "amount 不符合规则")
        existing = self.refunds.get(out_refund_no)
        if existing is not None:  # the same refund number refunds once: a retry sees the first
            return 200, self._refund_resource(existing)
        transaction_id = body.get("transaction_id")
        tx = self.transactions.get(body.get("out_trade_no", "")) or next(
            (t for t in self.transactions.values() if transaction_id and t.transaction_id == transaction_id), None
        )
        if tx is None or tx.state not in ("SUCCESS", "REFUND"):
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if total_fen != tx.amount_fen:
            return self._error(400, "PARAM_ERROR", "订单金额与原订单不一致")
        if refund_fen > tx.amount_fen - tx.refunded_fen:
            return self._error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if refund_fen > self.merchant_balance_fen:
            return self._error(403, "NOT_ENOUGH", "基本账户余额不足")
        refund = self.refunds[out_refund_no] = FakeRefund(
            out_refund_no=out_refund_no, refund_id="50" + f"{secrets.randbelow(10**27):027d}",
            out_trade_no=tx.out_trade_no, transaction_id=tx.transaction_id, refund_fen=refund_fen,
            total_fen=total_fen, reason=reason, notify_url=notify_url or "", create_time=_beijing(_now()),
        )
        tx.refunded_fen += refund_fen
        tx.state = "REFUND"
        self.merchant_balance_fen -= refund_fen
        return 200, self._refund_resource(refund)

    def _query_refund(self, out_refund_no: str) -> tuple[int, Any]:
        refund = self.refunds.get(out_refund_no)
        if refund is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return 200, self._refund_resource(refund)

    @staticmethod
    def _refund_resource(refund: FakeRefund) -> dict:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "success_time": refund.success_time,
            "create_time": refund.create_time,
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": refund.total_fen, "refund": refund.refund_fen, "payer_total": refund.total_fen,
                "payer_refund": refund.refund_fen, "settlement_refund": refund.refund_fen,
                "settlement_total": refund.total_fen, "discount_refund": 0, "currency": "CNY", "refund_fee": 0,
            },
            "promotion_detail": [],
        }


def _https_without_query(url: Any) -> bool:
    if not isinstance(url, str) or len(url) > 255:
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.netloc) and not parts.query


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wechatpay_keys(tmp_path_factory) -> PayKeys:
    # Three 2048-bit keys take a moment: once per session.
    return make_pay_keys(tmp_path_factory.mktemp("wechatpay-real-keys"))


@pytest.fixture(scope="session")
def fake_wechatpay_server():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def fake_wechatpay(fake_wechatpay_server, wechatpay_keys):
    """A fresh fake WeChat Pay; the test fails if any request reached it wrongly signed."""
    fake = FakeWeChatPay(server=fake_wechatpay_server, keys=wechatpay_keys)
    fake_wechatpay_server.clear()
    fake_wechatpay_server.expect_request(re.compile(".*")).respond_with_handler(fake.dispatch)
    yield fake
    fake_wechatpay_server.clear()
    if fake.auth_failures:
        pytest.fail(f"requests to fake WeChat Pay failed the Authorization check: {fake.auth_failures}")


def reset_wechat_caches() -> None:
    from wechat.backends import _backend_for
    from wechat.backends.real_pay import pay_client_reset
    from wechat.pay import keys

    _backend_for.cache_clear()
    pay_client_reset()
    keys._load_merchant_key.cache_clear()
    keys._load_platform_public_key.cache_clear()


@pytest.fixture
def wechatpay_real(settings, wechat_real, fake_wechatpay):
    """WECHAT_BACKEND=real against both fakes: WeChat (login, phone) and WeChat Pay."""
    settings.WECHATPAY_API_BASE = fake_wechatpay.url
    settings.WECHATPAY_MCHID = fake_wechatpay.mchid
    settings.WECHATPAY_APIV3_KEY = fake_wechatpay.apiv3_key
    settings.WECHATPAY_MERCHANT_KEY_PATH = str(fake_wechatpay.keys.merchant_key_path)
    settings.WECHATPAY_MERCHANT_CERT_SERIAL = fake_wechatpay.merchant_cert_serial
    settings.WECHATPAY_PUBLIC_KEY_PATH = str(fake_wechatpay.keys.platform_public_key_path)
    settings.WECHATPAY_PUBLIC_KEY_ID = fake_wechatpay.public_key_id
    assert settings.WECHAT_APPID == fake_wechatpay.appid
    reset_wechat_caches()
    yield fake_wechatpay
    reset_wechat_caches()
