"""The `real` backend's WeChat Pay (wechatpayv3) over real HTTP, against the fake WeChat Pay v3."""

import json
import logging
import re
import socket
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from core.errors import ExternalServiceError
from logistics.models import Stock
from orders.models import Order, Payment, Refund
from orders.services import order_expire, order_place, payment_prepare, payment_sync, refund_create, refund_submit
from tests.orders.conftest import buyer, customer, delivery, fill_cart, rules, shrimp  # noqa: F401
from wechat.backends import get_backend
from wechat.backends.real import RealBackend
from wechat.backends.real_pay import pay_client
from wechat.pay import crypto
from wechat.pay.types import PayTransaction, RefundResult, WeChatPayError

from .fake_server import FAKE_APPID
from .fake_wechatpay import (  # noqa: F401
    CERTIFICATES,
    FAKE_MCHID,
    FAKE_PUBLIC_KEY_ID,
    JSAPI,
    REFUNDS,
    close_path,
    fake_wechatpay,
    fake_wechatpay_server,
    query_path,
    refund_path,
    wechatpay_keys,
    wechatpay_real,
)

NOTIFY_URL = "https://shop.example.com/payments/wechatpay/notify"
NO = "SF2603010001"  # an out_trade_no


def _expire(minutes: int = 30) -> datetime:
    return (timezone.now() + timedelta(minutes=minutes)).replace(microsecond=0)


def _prepay(backend=None, *, out_trade_no=NO, amount_fen=19250, openid="oBUYER0000000000000000000001",
            description="海鲜订货-订单SF2603010001", time_expire=None, notify_url=NOTIFY_URL, attach=""):
    return (backend or get_backend()).pay_prepay(
        out_trade_no=out_trade_no, description=description, amount_fen=amount_fen, openid=openid,
        time_expire=time_expire or _expire(), notify_url=notify_url, attach=attach,
    )


def _paid(fake, out_trade_no=NO, amount_fen=19250):
    _prepay(out_trade_no=out_trade_no, amount_fen=amount_fen)
    return fake.pay(out_trade_no)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the SDK client ---------------------------------------------------------------------------------


def test_the_client_is_built_once_and_talks_to_the_configured_api_base(wechatpay_real):
    client = pay_client()

    assert pay_client() is client
    assert client._core._gate_way == wechatpay_real.url
    assert isinstance(get_backend(), RealBackend)
    _prepay()
    # Public-key mode: no platform certificate download, ever.
    assert wechatpay_real.calls(CERTIFICATES) == []
    assert [c.path for c in wechatpay_real.calls()] == [JSAPI]


@pytest.mark.parametrize("setting", ["WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_MERCHANT_CERT_SERIAL",
                                     "WECHATPAY_MERCHANT_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH"])
def test_missing_pay_settings_fail_loudly_before_any_call(wechatpay_real, settings, setting):
    setattr(settings, setting, "")

    with pytest.raises(ImproperlyConfigured, match=setting):
        _prepay()

    assert wechatpay_real.calls() == []


def test_an_unreadable_or_invalid_key_file_fails_loudly(wechatpay_real, settings, tmp_path):
    settings.WECHATPAY_MERCHANT_KEY_PATH = str(tmp_path / "missing.pem")
    with pytest.raises(ImproperlyConfigured, match="WECHATPAY_MERCHANT_KEY_PATH"):
        _prepay()

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    settings.WECHATPAY_MERCHANT_KEY_PATH = str(garbage)
    with pytest.raises(ImproperlyConfigured, match="refused the WeChat Pay keys"):
        _prepay()

    assert wechatpay_real.calls() == []


def test_a_request_signed_with_the_wrong_merchant_key_is_refused_by_the_fake(wechatpay_real, settings, tmp_path):
    # The fake's Authorization check is what makes every other test here prove our signatures.
    impostor = tmp_path / "impostor.pem"
    impostor.write_bytes(crypto.private_key_pem(wechatpay_real.keys.impostor_key))
    settings.WECHATPAY_MERCHANT_KEY_PATH = str(impostor)

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.code == "SIGN_ERROR"
    assert exc.value.details == {"api": "pay_prepay", "http_status": 401}
    assert wechatpay_real.transactions == {}
    assert len(wechatpay_real.auth_failures) == 1
    assert "does not verify with the merchant key" in wechatpay_real.auth_failures[0]
    wechatpay_real.auth_failures.clear()  # seen: don't fail the test at teardown


# -- prepay -----------------------------------------------------------------------------------------


def test_prepay_sends_the_documented_jsapi_order_and_returns_the_prepay_id(wechatpay_real):
    moment = timezone.now().replace(microsecond=0) + timedelta(minutes=45)

    prepay_id = _prepay(time_expire=moment, attach="rep=7F3K")

    [call] = wechatpay_real.calls(JSAPI)
    assert call.auth_problem is None
    assert call.method == "POST"
    body = dict(call.json)
    time_expire = body.pop("time_expire")
    assert body == {
        "appid": FAKE_APPID,
        "mchid": FAKE_MCHID,
        "description": "海鲜订货-订单SF2603010001",
        "out_trade_no": NO,
        "notify_url": NOTIFY_URL,
        "amount": {"total": 19250, "currency": "CNY"},
        "payer": {"openid": "oBUYER0000000000000000000001"},
        "attach": "rep=7F3K",
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00", time_expire)
    assert datetime.fromisoformat(time_expire) == moment
    assert call.headers["Wechatpay-Serial"] == FAKE_PUBLIC_KEY_ID
    assert prepay_id == wechatpay_real.transactions[NO].prepay_ids[0]
    assert wechatpay_real.transactions[NO].time_expire == moment


def test_time_expire_is_sent_in_beijing_time_whatever_zone_it_comes_in(wechatpay_real):
    moment = (timezone.now() + timedelta(hours=2)).replace(microsecond=0).astimezone(dt_timezone.utc)

    _prepay(time_expire=moment)

    sent = wechatpay_real.calls(JSAPI)[0].json["time_expire"]
    assert sent.endswith("+08:00")
    assert datetime.fromisoformat(sent) == moment
    assert sent == moment.astimezone(timezone.get_fixed_timezone(480)).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def test_prepay_again_with_the_same_parameters_gets_a_fresh_prepay_id(wechatpay_real):
    first_expire = _expire(30)
    first = _prepay(time_expire=first_expire)
    second = _prepay(time_expire=_expire(60))

    assert first != second
    assert wechatpay_real.transactions[NO].prepay_ids == [first, second]
    assert wechatpay_real.transactions[NO].time_expire == first_expire  # only the first one counts
    assert len(wechatpay_real.calls(JSAPI)) == 2


def test_prepay_for_a_paid_order_is_orderpaid(wechatpay_real):
    _paid(wechatpay_real)

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.code == "ORDERPAID"
    assert exc.value.message == "该订单已支付"
    assert exc.value.status_code == 502
    assert exc.value.details == {"api": "pay_prepay", "http_status": 403}
    assert len(wechatpay_real.transactions[NO].prepay_ids) == 1


def test_prepay_for_a_closed_order_is_order_closed(wechatpay_real):
    _prepay()
    get_backend().pay_close(out_trade_no=NO)

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.code == "ORDER_CLOSED"
    assert exc.value.message == "该订单已关闭"


def test_prepay_with_the_same_number_but_another_amount_is_refused(wechatpay_real):
    _prepay(amount_fen=19250)

    with pytest.raises(WeChatPayError) as exc:
        _prepay(amount_fen=100)

    assert exc.value.code == "INVALID_REQUEST"
    assert wechatpay_real.transactions[NO].amount_fen == 19250


def test_wechatpay_param_error_is_passed_on_with_its_code(wechatpay_real):
    # time_expire less than a minute ahead: WeChat Pay's rule, checked on its side.
    with pytest.raises(WeChatPayError) as exc:
        _prepay(time_expire=timezone.now() + timedelta(seconds=30))

    assert exc.value.code == "PARAM_ERROR"
    assert exc.value.details == {"api": "pay_prepay", "http_status": 400}
    assert wechatpay_real.transactions == {}


@pytest.mark.parametrize(
    "override",
    [
        {"out_trade_no": "SF1"},  # < 6 characters
        {"out_trade_no": "SF2603/../close"},
        {"description": ""},
        {"description": "鱼" * 128},
        {"amount_fen": 0},
        {"amount_fen": 192.5},
        {"amount_fen": True},
        {"openid": ""},
        {"notify_url": "http://shop.example.com/notify"},
        {"notify_url": "https://shop.example.com/notify?order=1"},
        {"notify_url": ""},
        {"attach": "a" * 129},
        {"time_expire": datetime(2030, 1, 1, 12, 0)},  # naive: which 12:00?
    ],
)
def test_prepay_refuses_invalid_input_without_calling_wechatpay(wechatpay_real, override):
    with pytest.raises(WeChatPayError) as exc:
        _prepay(**override)

    assert exc.value.code == "PARAM_ERROR"
    assert exc.value.message.startswith("微信支付参数错误：")
    assert wechatpay_real.calls() == []


# -- query ------------------------------------------------------------------------------------------


def test_query_of_an_unpaid_order_is_notpay(wechatpay_real):
    _prepay(attach="rep=7F3K")

    tx = get_backend().pay_query(out_trade_no=NO)

    assert tx == PayTransaction(appid=FAKE_APPID, mchid=FAKE_MCHID, out_trade_no=NO, transaction_id="",
                                trade_state="NOTPAY", amount_total_fen=19250, payer_openid="", success_time="",
                                attach="rep=7F3K")
    [call] = wechatpay_real.calls(query_path(NO))
    assert call.method == "GET"
    assert call.target == f"{query_path(NO)}?mchid={FAKE_MCHID}"
    assert call.auth_problem is None


def test_query_of_a_paid_order_is_the_transaction(wechatpay_real):
    paid = _paid(wechatpay_real)

    tx = get_backend().pay_query(out_trade_no=NO)

    assert tx == PayTransaction(appid=FAKE_APPID, mchid=FAKE_MCHID, out_trade_no=NO,
                                transaction_id=paid.transaction_id, trade_state="SUCCESS", amount_total_fen=19250,
                                payer_openid="oBUYER0000000000000000000001", success_time=paid.success_time)


def test_query_of_an_order_wechatpay_never_saw_is_none(wechatpay_real):
    assert get_backend().pay_query(out_trade_no="SF2603019999") is None
    assert len(wechatpay_real.calls(query_path("SF2603019999"))) == 1


def test_query_without_amount_total_for_an_unpaid_order_still_answers(wechatpay_real):
    wechatpay_real.unpaid_query_has_total = False  # amount.total is optional in query answers
    _prepay()

    tx = get_backend().pay_query(out_trade_no=NO)

    assert (tx.trade_state, tx.amount_total_fen) == ("NOTPAY", 0)


def test_a_paid_transaction_without_an_integer_total_is_a_bad_response(wechatpay_real):
    paid = _paid(wechatpay_real)
    resource = wechatpay_real.transaction_resource(NO)
    resource["amount"]["total"] = "19250"
    wechatpay_real.respond_once(query_path(NO), json=resource)

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_query(out_trade_no=NO)

    assert exc.value.details == {"api": "pay_query", "reason": "bad_response"}
    assert paid.state == "SUCCESS"


def test_an_answer_about_another_order_is_a_bad_response(wechatpay_real):
    _paid(wechatpay_real)
    _paid(wechatpay_real, out_trade_no="SF2603010002")
    wechatpay_real.respond_once(query_path(NO), json=wechatpay_real.transaction_resource("SF2603010002"))

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_query(out_trade_no=NO)

    assert exc.value.details == {"api": "pay_query", "reason": "bad_response"}


def test_a_404_without_wechatpays_code_is_an_error_not_an_unknown_order(wechatpay_real):
    # e.g. a wrong WECHATPAY_API_BASE behind a proxy: None here would cancel an order without
    # closing it at WeChat Pay.
    wechatpay_real.respond_once(query_path(NO), status=404, body="<html>Not Found</html>")

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_query(out_trade_no=NO)

    assert exc.value.details == {"api": "pay_query", "reason": "http_status", "http_status": 404}


# -- close ------------------------------------------------------------------------------------------


def test_close_closes_the_order_at_wechatpay(wechatpay_real):
    _prepay()

    assert get_backend().pay_close(out_trade_no=NO) is None

    assert wechatpay_real.transactions[NO].state == "CLOSED"
    [call] = wechatpay_real.calls(close_path(NO))
    assert (call.method, call.json, call.auth_problem) == ("POST", {"mchid": FAKE_MCHID}, None)
    assert get_backend().pay_query(out_trade_no=NO).trade_state == "CLOSED"


@pytest.mark.parametrize(("paid", "code", "status"), [(True, "ORDERPAID", 403), (False, "ORDER_NOT_EXIST", 404)])
def test_close_refusals_keep_wechatpays_code(wechatpay_real, paid, code, status):
    if paid:
        _paid(wechatpay_real)

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_close(out_trade_no=NO)

    assert (exc.value.code, exc.value.details) == (code, {"api": "pay_close", "http_status": status})
    if paid:
        assert wechatpay_real.transactions[NO].state == "SUCCESS"


# -- refunds ----------------------------------------------------------------------------------------


def test_refund_is_accepted_then_succeeds_and_a_query_says_so(wechatpay_real):
    paid = _paid(wechatpay_real)
    backend = get_backend()

    accepted = backend.pay_refund(out_refund_no=f"{NO}R1", out_trade_no=NO, refund_fen=5000, total_fen=19250,
                                  reason="少发一袋虾仁", notify_url=NOTIFY_URL)

    refund = wechatpay_real.refunds[f"{NO}R1"]
    assert accepted == RefundResult(out_refund_no=f"{NO}R1", refund_id=refund.refund_id, status="PROCESSING")
    [call] = wechatpay_real.calls(REFUNDS)
    assert call.auth_problem is None
    assert call.json == {
        "out_refund_no": f"{NO}R1",
        "out_trade_no": NO,
        "amount": {"refund": 5000, "total": 19250, "currency": "CNY"},
        "reason": "少发一袋虾仁",
        "notify_url": NOTIFY_URL,
    }
    assert backend.pay_query_refund(out_refund_no=f"{NO}R1") == accepted

    wechatpay_real.refund_settle(f"{NO}R1")

    assert backend.pay_query_refund(out_refund_no=f"{NO}R1") == RefundResult(f"{NO}R1", refund.refund_id, "SUCCESS")
    assert wechatpay_real.transactions[NO].refunded_fen == 5000
    assert paid.state == "REFUND"


def test_the_same_refund_number_refunds_once(wechatpay_real):
    _paid(wechatpay_real)
    backend = get_backend()
    kwargs = dict(out_refund_no=f"{NO}R1", out_trade_no=NO, refund_fen=5000, total_fen=19250, reason="",
                  notify_url=NOTIFY_URL)

    first = backend.pay_refund(**kwargs)
    again = backend.pay_refund(**kwargs)  # a retry after a lost answer

    assert first == again
    assert wechatpay_real.transactions[NO].refunded_fen == 5000
    assert "reason" not in wechatpay_real.calls(REFUNDS)[0].json  # empty reason is left out


def test_query_of_an_unknown_refund_is_none(wechatpay_real):
    assert get_backend().pay_query_refund(out_refund_no=f"{NO}R9") is None
    assert len(wechatpay_real.calls(refund_path(f"{NO}R9"))) == 1


@pytest.mark.parametrize(
    ("setup", "refund_fen", "code", "status"),
    [
        ("unpaid", 5000, "RESOURCE_NOT_EXISTS", 404),
        ("paid", 19251, "INVALID_REQUEST", 400),  # more than was paid
        ("poor", 5000, "NOT_ENOUGH", 403),  # the merchant's balance cannot cover it
    ],
)
def test_refund_refusals_keep_wechatpays_code(wechatpay_real, setup, refund_fen, code, status):
    if setup == "unpaid":
        _prepay()
    else:
        _paid(wechatpay_real)
    if setup == "poor":
        wechatpay_real.merchant_balance_fen = 4999

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_refund(out_refund_no=f"{NO}R1", out_trade_no=NO, refund_fen=refund_fen,
                                 total_fen=19250, reason="", notify_url=NOTIFY_URL)

    assert (exc.value.code, exc.value.details) == (code, {"api": "pay_refund", "http_status": status})
    assert wechatpay_real.refunds == {}


@pytest.mark.parametrize(
    "override",
    [{"out_refund_no": "R 1"}, {"out_refund_no": "R/1"}, {"refund_fen": 0}, {"total_fen": -1},
     {"reason": "原因" * 41}, {"notify_url": "http://shop.example.com/notify"}],
)
def test_refund_refuses_invalid_input_without_calling_wechatpay(wechatpay_real, override):
    kwargs = dict(out_refund_no=f"{NO}R1", out_trade_no=NO, refund_fen=5000, total_fen=19250, reason="",
                  notify_url=NOTIFY_URL) | override

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_refund(**kwargs)

    assert exc.value.code == "PARAM_ERROR"
    assert wechatpay_real.calls() == []


def test_a_refund_answer_with_an_unknown_status_is_a_bad_response(wechatpay_real):
    _paid(wechatpay_real)
    get_backend().pay_refund(out_refund_no=f"{NO}R1", out_trade_no=NO, refund_fen=5000, total_fen=19250,
                             reason="", notify_url=NOTIFY_URL)
    wechatpay_real.refund_settle(f"{NO}R1", status="DONE")

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_query_refund(out_refund_no=f"{NO}R1")

    assert exc.value.details == {"api": "pay_query_refund", "reason": "bad_response"}


# -- failures of the service itself -----------------------------------------------------------------


def test_a_system_error_keeps_its_code_with_the_generic_message(wechatpay_real):
    wechatpay_real.respond_once(JSAPI, status=500, json={"code": "SYSTEM_ERROR", "message": "系统错误"})

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.code == "SYSTEM_ERROR"
    assert exc.value.message == "微信支付暂时不可用，请稍后再试"
    assert exc.value.status_code == 502
    assert exc.value.details == {"api": "pay_prepay", "http_status": 500}
    assert wechatpay_real.transactions == {}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_error_status_without_a_wechatpay_body_is_an_http_status_error(wechatpay_real, status):
    wechatpay_real.respond_once(JSAPI, status=status, body="<html>Bad Gateway</html>")

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.code == "wechatpay_error"
    assert exc.value.details == {"api": "pay_prepay", "reason": "http_status", "http_status": status}


def test_a_slow_wechatpay_times_out(wechatpay_real, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    wechatpay_real.respond_once(JSAPI, delay=1.5)  # answers fine, only too late

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert isinstance(exc.value, ExternalServiceError)
    assert exc.value.details == {"api": "pay_prepay", "reason": "timeout"}
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_an_unreachable_wechatpay_is_a_connection_error(wechatpay_real, settings):
    settings.WECHATPAY_API_BASE = f"http://127.0.0.1:{_closed_port()}"

    with pytest.raises(WeChatPayError) as exc:
        get_backend().pay_query(out_trade_no=NO)

    assert exc.value.details == {"api": "pay_query", "reason": "connection"}


@pytest.mark.parametrize("signature", ["wrong_key", "tampered", "missing", "unknown_serial"])
def test_a_query_answer_that_fails_signature_verification_is_refused(wechatpay_real, signature):
    _paid(wechatpay_real)
    wechatpay_real.respond_once(query_path(NO), signature=signature)

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().pay_query(out_trade_no=NO)

    assert exc.value.details == {"api": "pay_query", "reason": "bad_signature"}
    assert get_backend().pay_query(out_trade_no=NO).trade_state == "SUCCESS"  # a signed answer is accepted


def test_a_prepay_id_in_a_badly_signed_answer_is_not_used(wechatpay_real):
    wechatpay_real.respond_once(JSAPI, signature="wrong_key")

    with pytest.raises(ExternalServiceError) as exc:
        _prepay()

    assert exc.value.details == {"api": "pay_prepay", "reason": "bad_signature"}


def test_a_close_answer_204_must_be_signed_too(wechatpay_real):
    _prepay()
    wechatpay_real.respond_once(close_path(NO), signature="missing")

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().pay_close(out_trade_no=NO)

    assert exc.value.details == {"api": "pay_close", "reason": "bad_signature"}


@pytest.mark.parametrize("body", ["<html>ok</html>", '["a list"]', ""])
def test_a_2xx_answer_that_is_not_a_json_object_is_a_bad_response(wechatpay_real, body):
    wechatpay_real.respond_once(JSAPI, status=200, body=body)

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.details == {"api": "pay_prepay", "reason": "bad_response"}


def test_a_prepay_answer_without_a_prepay_id_is_a_bad_response(wechatpay_real):
    wechatpay_real.respond_once(JSAPI, json={"prepay": "wx123"})

    with pytest.raises(WeChatPayError) as exc:
        _prepay()

    assert exc.value.details == {"api": "pay_prepay", "reason": "bad_response"}


def test_no_key_material_is_logged_even_at_debug(wechatpay_real, caplog):
    caplog.set_level(logging.DEBUG)
    _paid(wechatpay_real)
    get_backend().pay_query(out_trade_no=NO)
    wechatpay_real.respond_once(query_path(NO), status=500, json={"code": "SYSTEM_ERROR", "message": "系统错误"})
    with pytest.raises(WeChatPayError):
        get_backend().pay_query(out_trade_no=NO)

    log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    merchant_pem = Path(wechatpay_real.keys.merchant_key_path).read_text()
    key_body = "".join(merchant_pem.splitlines()[1:-1])
    assert "SYSTEM_ERROR" in log  # the refusal is logged...
    assert wechatpay_real.apiv3_key not in log  # ...but no secret
    assert "PRIVATE KEY" not in log and key_body[:40] not in log
    signatures = [re.search(r'signature="([^"]+)"', c.headers["Authorization"]).group(1)
                  for c in wechatpay_real.calls()]
    assert not any(s[:40] in log for s in signatures)
    assert "Authorization" not in log


# -- end to end: the orders service with WECHAT_BACKEND=real ----------------------------------------


@pytest.fixture
def real_order(db, settings, wechatpay_real, buyer, rules, shrimp, delivery):  # noqa: F811
    settings.WECHATPAY_NOTIFY_URL = NOTIFY_URL
    fill_cart(buyer, (shrimp, "4"))  # 4 × 45.50 = 182.00 + 10.00 delivery
    order, _ = order_place(visitor=buyer, idempotency_key="real-pay-e2e-0001", delivery=delivery)
    return order


def _verifies(params: dict, public_key) -> bool:
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    return crypto.rsa_verify(public_key, message, params["paySign"])


def test_orders_prepare_and_sync_through_the_real_backend(wechatpay_real, real_order):
    order = real_order

    params = payment_prepare(order_id=order.pk, notify_url="http://testserver/payments/wechatpay/notify")

    tx = wechatpay_real.transactions[order.payment.out_trade_no]
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == FAKE_APPID and params["signType"] == "RSA"
    assert params["package"] == f"prepay_id={tx.prepay_ids[-1]}"
    assert _verifies(params, wechatpay_real.keys.merchant_public_key)
    assert not _verifies(params, wechatpay_real.keys.impostor_key.public_key())
    assert (tx.amount_fen, tx.openid, tx.notify_url) == (19200, order.visitor.openid, NOTIFY_URL)
    assert tx.time_expire == order.expires_at.replace(microsecond=0)  # WeChat Pay counts whole seconds
    assert Payment.objects.get(order=order).out_trade_no == order.number  # WeChat Pay knows it by this; the prepay_id is not kept

    assert payment_sync(order_id=order.pk) == "not_paid:NOTPAY"
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT

    paid = wechatpay_real.pay(order.payment.out_trade_no)
    assert payment_sync(order_id=order.pk) == "paid"

    order.refresh_from_db()
    payment = Payment.objects.get(order=order)
    assert order.status == Order.Status.PAID
    assert (payment.status, payment.transaction_id, payment.payer_openid) == (
        Payment.Status.SUCCEEDED, paid.transaction_id, order.visitor.openid)
    assert payment.succeeded_at == datetime.fromisoformat(paid.success_time)
    assert payment_sync(order_id=order.pk) == "already_paid"
    assert len(wechatpay_real.calls(query_path(order.payment.out_trade_no))) == 2


def test_orders_notification_verified_with_the_real_platform_key(wechatpay_real, real_order, client):
    order = real_order
    payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    wechatpay_real.pay(order.payment.out_trade_no)
    headers, body = wechatpay_real.notification(order.payment.out_trade_no)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}

    response = client.post("/payments/wechatpay/notify", data=body, content_type="application/json", **meta)

    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_orders_expiry_closes_an_unpaid_order_at_wechatpay(wechatpay_real, real_order):
    order = real_order
    payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)

    outcome = order_expire(order_id=order.pk, now=order.expires_at + timedelta(minutes=1))

    assert outcome == "cancelled"
    assert wechatpay_real.transactions[order.payment.out_trade_no].state == "CLOSED"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Stock.objects.get(product__order_lines__order=order).reserved == 0


def _refund_through_real_backend(wechatpay_real, order, django_capture_on_commit_callbacks) -> Refund:
    payment_prepare(order_id=order.pk, notify_url=NOTIFY_URL)
    wechatpay_real.pay(order.payment.out_trade_no)
    assert payment_sync(order_id=order.pk) == "paid"
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            refund = refund_create(order=locked, amount=Decimal("45.50"), reason="少发一袋", actor="admin")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PROCESSING
    return refund


def test_orders_refund_through_the_real_backend(wechatpay_real, real_order, django_capture_on_commit_callbacks):
    order = real_order
    refund = _refund_through_real_backend(wechatpay_real, order, django_capture_on_commit_callbacks)

    remote = wechatpay_real.refunds[refund.out_refund_no]
    assert (remote.refund_fen, remote.total_fen, remote.reason, remote.notify_url) == (4550, 19200, "少发一袋",
                                                                                       NOTIFY_URL)
    assert refund.refund_id == remote.refund_id

    wechatpay_real.refund_settle(refund.out_refund_no)
    assert refund_submit(refund_id=refund.pk) == Refund.Status.SUCCEEDED

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert wechatpay_real.transactions[order.payment.out_trade_no].refunded_fen == 4550
    assert json.loads(wechatpay_real.calls(REFUNDS)[0].body)["amount"] == {"refund": 4550, "total": 19200,
                                                                           "currency": "CNY"}


def _post_notification(client, headers, body):
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return client.post("/payments/wechatpay/notify", data=body, content_type="application/json", **meta)


@pytest.mark.parametrize("status, expected", [("SUCCESS", Refund.Status.SUCCEEDED), ("ABNORMAL", Refund.Status.FAILED),
                                              ("CLOSED", Refund.Status.FAILED)])
def test_orders_refund_notification_verified_with_the_real_platform_key(
        wechatpay_real, real_order, client, django_capture_on_commit_callbacks, status, expected):
    refund = _refund_through_real_backend(wechatpay_real, real_order, django_capture_on_commit_callbacks)
    assert wechatpay_real.refunds[refund.out_refund_no].notify_url == NOTIFY_URL
    wechatpay_real.refund_settle(refund.out_refund_no, status)

    response = _post_notification(client, *wechatpay_real.refund_notification(refund.out_refund_no))

    assert response.status_code == 204
    refund.refresh_from_db()
    assert (refund.status, refund.refund_id) == (expected, wechatpay_real.refunds[refund.out_refund_no].refund_id)
    assert len(wechatpay_real.calls(refund_path(refund.out_refund_no))) == 0  # no query needed


def test_orders_refund_notification_signed_by_another_key_changes_nothing(
        wechatpay_real, real_order, client, django_capture_on_commit_callbacks):
    refund = _refund_through_real_backend(wechatpay_real, real_order, django_capture_on_commit_callbacks)
    wechatpay_real.refund_settle(refund.out_refund_no)
    before = Refund.objects.filter(pk=refund.pk).values().get()
    headers, body = crypto.build_notification(
        event_type="REFUND.SUCCESS", resource=wechatpay_real.refund_notice_resource(refund.out_refund_no),
        platform_key=wechatpay_real.keys.impostor_key, serial=wechatpay_real.public_key_id,
        apiv3_key=wechatpay_real.apiv3_key, original_type="refund")

    response = _post_notification(client, headers, body)

    assert response.status_code == 401
    assert Refund.objects.filter(pk=refund.pk).values().get() == before
