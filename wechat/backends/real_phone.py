"""The real getPhoneNumber: `POST /wxa/business/getuserphonenumber?access_token=…`.

The button's code is single use (5 minutes) and every successful exchange is billed
(¥0.03–0.04 after the free trial calls), so the request is never resent after WeChat may have
looked at the code. The one exception is a refused access_token (40001/42001): WeChat rejects
those before reading the body, so the code is still unspent and one retry with a fresh token
is safe.
"""

import logging
import re

from django.conf import settings

from core.errors import ExternalServiceError

from .. import http
from ..access_token import get_access_token, invalidate_access_token
from ..errors import InvalidPhoneCode

logger = logging.getLogger("wechat")

API = "getuserphonenumber"
PATH = "/wxa/business/getuserphonenumber"
PHONE_CODE_MAX_LENGTH = 512  # same ceiling as the dev backend's
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_ERR_TOKEN = {40001, 42001}  # access_token invalid / expired
# 40029 invalid code (unknown, expired, used, or — with `openid` — another user's);
# 40163 "code been used" as some WeChat APIs word it.
_ERR_INVALID_CODE = {40029, 40163}
_ERR_QUOTA_EXHAUSTED = 1400001  # the paid quick-verification quota ran out


def _errcode(data: dict) -> int:
    # The quota error has been documented as `errno` rather than `errcode`; read either.
    errcode = http.errcode_of(data)
    if not errcode and "errno" in data:
        errcode = http.errcode_of({"errcode": data["errno"]})
    return errcode


def _valid_code(code: object) -> bool:
    return (
        isinstance(code, str)
        and 0 < len(code) <= PHONE_CODE_MAX_LENGTH
        and all("!" <= ch <= "~" for ch in code)
    )


class RealPhoneMixin:
    def get_phone_number(self, *, code: str, openid: str = "") -> str:
        if not _valid_code(code):
            raise InvalidPhoneCode()  # nothing spent: no token fetched, no billed call
        body = {"code": code}
        if openid:
            body["openid"] = openid  # WeChat then refuses a code obtained by another user
        data = self._phone_request(body)
        errcode = _errcode(data)
        if errcode in _ERR_INVALID_CODE:
            logger.info("WeChat %s refused the phone code: errcode=%s errmsg=%s", API, errcode, http.errmsg_of(data))
            raise InvalidPhoneCode(details={"errcode": errcode})
        if errcode == _ERR_QUOTA_EXHAUSTED:
            # Someone has to top up the quota in the mini program console; say so loudly.
            logger.error("WeChat %s quota exhausted (errcode 1400001): top up 手机号快速验证 in the console", API)
            raise ExternalServiceError(
                "微信手机号验证次数已用完，请稍后再试或联系客服",
                details={"api": API, "reason": "quota_exhausted", "errcode": errcode},
            )
        if errcode:
            raise http.errcode_error(api=API, data=data)
        return self._phone_from(data)

    def _phone_request(self, body: dict) -> dict:
        token = get_access_token()
        data = http.request_json("POST", PATH, api=API, params={"access_token": token}, json_body=body)
        if _errcode(data) in _ERR_TOKEN:
            logger.info("WeChat %s refused the access_token (errcode=%s); retrying once", API, _errcode(data))
            invalidate_access_token(token)
            token = get_access_token()
            data = http.request_json("POST", PATH, api=API, params={"access_token": token}, json_body=body)
        return data

    def _phone_from(self, data: dict) -> str:
        info = data.get("phone_info")
        if not isinstance(info, dict):
            logger.warning("WeChat %s answered without phone_info (fields: %s)", API, sorted(data))
            raise http.external_error(api=API, reason="bad_response")
        watermark = info.get("watermark")
        if not isinstance(watermark, dict) or watermark.get("appid") != settings.WECHAT_APPID:
            # A number issued to another mini program is not a number for us.
            logger.error("WeChat %s answered a phone_info whose watermark is not for WECHAT_APPID", API)
            raise http.external_error(api=API, reason="appid_mismatch")
        country_code, phone = info.get("countryCode"), info.get("purePhoneNumber")
        if not isinstance(phone, str) or not isinstance(country_code, (str, int)) or isinstance(country_code, bool):
            logger.warning("WeChat %s answered phone_info without purePhoneNumber/countryCode", API)
            raise http.external_error(api=API, reason="bad_response")
        if str(country_code).lstrip("+") != "86":
            # The user's own number is not a mainland one: their answer, not a WeChat failure.
            # (The number itself is personal data: never logged.)
            raise InvalidPhoneCode("暂不支持境外手机号，请使用中国大陆手机号", details={"reason": "not_mainland"})
        if not MAINLAND_MOBILE.match(phone):
            logger.warning("WeChat %s answered a +86 number that is not an 11-digit mobile", API)
            raise http.external_error(api=API, reason="bad_response")
        return phone
