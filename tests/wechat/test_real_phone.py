"""The `real` backend's getPhoneNumber over real HTTP, against the fake WeChat on loopback."""

import logging

import pytest
from django.core.cache import cache

from core.errors import ExternalServiceError
from customers.models import Customer, Visitor
from customers.services import customer_bind_phone
from tests.factories import VisitorFactory
from wechat import access_token
from wechat.access_token import get_access_token
from wechat.backends import get_backend
from wechat.errors import InvalidPhoneCode

from .fake_server import FAKE_APPID

PHONE = "/wxa/business/getuserphonenumber"
STABLE_TOKEN = "/cgi-bin/stable_token"
OPENID = "oPHONE000000000000000000001a"


def _phone_info(**override) -> dict:
    info = {"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": "86",
            "watermark": {"timestamp": 1700000000, "appid": FAKE_APPID}}
    return {"errcode": 0, "errmsg": "ok", "phone_info": info | override}


def test_the_code_is_exchanged_for_the_mainland_number(wechat_real):
    code = wechat_real.issue_phone_code(OPENID, phone="13912345678")

    phone = get_backend().get_phone_number(code=code, openid=OPENID)

    assert phone == "13912345678"
    [call] = wechat_real.calls(PHONE)
    assert call.method == "POST"
    assert call.json == {"code": code, "openid": OPENID}
    assert call.args == {"access_token": wechat_real.current_access_token()}
    assert call.headers["Content-Type"].startswith("application/json")


def test_without_openid_only_the_code_is_sent(wechat_real):
    code = wechat_real.issue_phone_code(OPENID)

    assert get_backend().get_phone_number(code=code) == "13800138000"

    assert wechat_real.calls(PHONE)[0].json == {"code": code}


def test_the_token_is_shared_with_the_other_server_apis(wechat_real):
    token = get_access_token()

    get_backend().get_phone_number(code=wechat_real.issue_phone_code(OPENID), openid=OPENID)

    assert wechat_real.calls(PHONE)[0].args["access_token"] == token
    assert len(wechat_real.calls(STABLE_TOKEN)) == 1


@pytest.mark.parametrize("case", ["unknown", "used", "another_user"])
def test_an_invalid_code_is_invalid_phone_code(wechat_real, case):
    backend = get_backend()
    code = wechat_real.issue_phone_code(OPENID)
    if case == "unknown":
        code = "0" * 64
    elif case == "used":
        assert backend.get_phone_number(code=code, openid=OPENID) == "13800138000"

    with pytest.raises(InvalidPhoneCode) as exc:
        backend.get_phone_number(code=code, openid="oSOMEONEELSE0000000000000001" if case == "another_user" else OPENID)

    assert exc.value.details == {"errcode": 40029}
    assert (exc.value.status_code, exc.value.code) == (400, "invalid_phone_code")
    assert exc.value.message == "手机号授权已失效，请重新授权"


@pytest.mark.parametrize("code", ["", "a" * 513, "手机码", "abc def", "abc\n", None, 12345])
def test_malformed_codes_are_refused_without_calling_wechat(wechat_real, code):
    with pytest.raises(InvalidPhoneCode):
        get_backend().get_phone_number(code=code, openid=OPENID)

    assert wechat_real.calls() == []  # not even a token fetch


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_refused_token_is_dropped_and_the_call_retried_once(wechat_real, how):
    old = get_access_token()
    if how == "revoked":
        wechat_real.revoke_access_tokens()  # 40001 for `old`
    else:
        wechat_real.respond_once(PHONE, json={"errcode": 42001, "errmsg": "access_token expired, rid: r"})
        # the fake would still accept `old`: make the next token a new one, as after expiry
        wechat_real.revoke_access_tokens()
    code = wechat_real.issue_phone_code(OPENID)

    phone = get_backend().get_phone_number(code=code, openid=OPENID)

    assert phone == "13800138000"
    first, second = wechat_real.calls(PHONE)
    assert first.args["access_token"] == old
    assert second.args["access_token"] == wechat_real.current_access_token() != old
    assert first.json == second.json == {"code": code, "openid": OPENID}
    assert len(wechat_real.calls(STABLE_TOKEN)) == 2
    assert cache.get(access_token.cache_key())["token"] == second.args["access_token"]


def test_a_token_refused_twice_is_not_retried_again(wechat_real):
    for _ in range(3):
        wechat_real.respond_once(PHONE, json={"errcode": 40001, "errmsg": "invalid credential, rid: r"})

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().get_phone_number(code=wechat_real.issue_phone_code(OPENID), openid=OPENID)

    assert exc.value.details == {"api": "getuserphonenumber", "reason": "errcode", "errcode": 40001}
    assert len(wechat_real.calls(PHONE)) == 2


def test_an_exhausted_quota_is_a_clear_external_service_error(wechat_real, caplog):
    caplog.set_level(logging.INFO, logger="wechat")
    wechat_real.phone_quota = 1
    backend = get_backend()
    assert backend.get_phone_number(code=wechat_real.issue_phone_code(OPENID), openid=OPENID) == "13800138000"
    code = wechat_real.issue_phone_code(OPENID)

    with pytest.raises(ExternalServiceError) as exc:
        backend.get_phone_number(code=code, openid=OPENID)

    assert type(exc.value) is ExternalServiceError
    assert exc.value.status_code == 502
    assert exc.value.message == "微信手机号验证次数已用完，请稍后再试或联系客服"
    assert exc.value.details == {"api": "getuserphonenumber", "reason": "quota_exhausted", "errcode": 1400001}
    assert [r.levelname for r in caplog.records if "quota" in r.getMessage()] == ["ERROR"]
    assert len(wechat_real.calls(PHONE)) == 2  # not retried: the quota will not come back by itself


def test_the_quota_error_is_recognised_as_errno_too(wechat_real):
    wechat_real.respond_once(PHONE, json={"errno": 1400001, "errmsg": "quota exhausted"})

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().get_phone_number(code=wechat_real.issue_phone_code(OPENID), openid=OPENID)

    assert exc.value.details["reason"] == "quota_exhausted"


def test_a_number_outside_the_mainland_is_refused_with_a_clear_message(wechat_real):
    code = wechat_real.issue_phone_code(OPENID, phone="51234567", country_code="852")

    with pytest.raises(InvalidPhoneCode) as exc:
        get_backend().get_phone_number(code=code, openid=OPENID)

    assert exc.value.message == "暂不支持境外手机号，请使用中国大陆手机号"
    assert exc.value.details == {"reason": "not_mainland"}


def test_country_code_86_as_a_number_is_accepted(wechat_real):
    # The field table says string; the documented example shows a number.
    code = wechat_real.issue_phone_code(OPENID, phone="13700000000", country_code=86)

    assert get_backend().get_phone_number(code=code, openid=OPENID) == "13700000000"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (_phone_info(watermark={"timestamp": 1700000000, "appid": "wxANOTHERAPP00000"}), "appid_mismatch"),
        (_phone_info(watermark=None), "appid_mismatch"),
        ({"errcode": 0, "errmsg": "ok"}, "bad_response"),
        (_phone_info(purePhoneNumber="1380013800"), "bad_response"),  # 10 digits
        (_phone_info(purePhoneNumber="+8613800138000"), "bad_response"),
        (_phone_info(purePhoneNumber=13800138000), "bad_response"),
        (_phone_info(countryCode=None), "bad_response"),
    ],
)
def test_an_unusable_phone_info_is_an_external_service_error(wechat_real, answer, reason):
    wechat_real.respond_once(PHONE, json=answer)

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().get_phone_number(code=wechat_real.issue_phone_code(OPENID), openid=OPENID)

    assert type(exc.value) is ExternalServiceError
    assert exc.value.details == {"api": "getuserphonenumber", "reason": reason}


@pytest.mark.parametrize(
    ("scripted", "details"),
    [
        ({"json": {"errcode": -1, "errmsg": "system error"}},
         {"api": "getuserphonenumber", "reason": "errcode", "errcode": -1}),
        ({"status": 500, "body": "oops"}, {"api": "getuserphonenumber", "reason": "http_status", "http_status": 500}),
        ({"body": "not json"}, {"api": "getuserphonenumber", "reason": "bad_response"}),
    ],
)
def test_wechat_failures_are_external_service_errors(wechat_real, scripted, details):
    wechat_real.respond_once(PHONE, **scripted)

    with pytest.raises(ExternalServiceError) as exc:
        get_backend().get_phone_number(code=wechat_real.issue_phone_code(OPENID), openid=OPENID)

    assert exc.value.details == details
    assert len(wechat_real.calls(PHONE)) == 1  # a code that WeChat may have read is never resent


def test_neither_the_code_nor_the_number_nor_the_token_is_logged(wechat_real, caplog):
    caplog.set_level(logging.DEBUG)
    code = wechat_real.issue_phone_code(OPENID, phone="13612345678")

    get_backend().get_phone_number(code=code, openid=OPENID)
    with pytest.raises(InvalidPhoneCode):
        get_backend().get_phone_number(code=code, openid=OPENID)

    log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    assert "POST /wxa/business/getuserphonenumber?access_token=***" in log  # urllib3's line, redacted
    assert code not in log
    assert "13612345678" not in log
    assert wechat_real.current_access_token() not in log


# -- end to end: binding the phone at checkout with WECHAT_BACKEND=real -----------------------------


@pytest.mark.django_db
def test_customer_bind_phone_with_the_real_backend(wechat_real):
    visitor = VisitorFactory(openid=OPENID)
    code = wechat_real.issue_phone_code(OPENID, phone="13512345678")

    customer = customer_bind_phone(visitor=visitor, phone_code=code, nickname="王老板")

    assert (customer.phone, customer.name) == ("13512345678", "王老板")
    visitor.refresh_from_db()
    assert (visitor.customer_id, visitor.phone) == (customer.pk, "13512345678")

    # The same code again (a double tap) is refused and changes nothing.
    with pytest.raises(InvalidPhoneCode):
        customer_bind_phone(visitor=visitor, phone_code=code)
    assert Customer.objects.count() == 1
    assert Visitor.objects.get(pk=visitor.pk).phone == "13512345678"
