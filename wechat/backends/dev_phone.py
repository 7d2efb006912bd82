"""The dev backend's phone-number authorisation (getPhoneNumber button → code → number).

The dev sheet (wechat.views.dev_phone_code) plays the WeChat client: it hands out a code bound
to the WeChat user and the number, single use, 5 minutes — as getuserphonenumber's codes are.
"""

import hashlib
import re

from django.core import signing
from django.core.cache import cache

from ..errors import InvalidPhoneCode

PHONE_CODE_SALT = "wechat.dev.phone-code"
PHONE_CODE_MAX_AGE_SECONDS = 5 * 60
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}\Z")


class DevPhoneMixin:
    def issue_phone_code(self, *, openid: str, phone: str) -> str:
        return signing.dumps({"o": openid, "p": phone}, salt=PHONE_CODE_SALT, compress=True)

    def get_phone_number(self, *, code: str, openid: str = "") -> str:
        if not isinstance(code, str) or not code or len(code) > 512:
            raise InvalidPhoneCode()
        try:
            payload = signing.loads(code, salt=PHONE_CODE_SALT, max_age=PHONE_CODE_MAX_AGE_SECONDS)
        except signing.BadSignature:
            raise InvalidPhoneCode()
        phone = payload.get("p") if isinstance(payload, dict) else None
        if not isinstance(phone, str) or not MAINLAND_MOBILE.match(phone):
            raise InvalidPhoneCode()
        # Like WeChat when given `openid`: a code taken from another user is refused.
        if openid and payload.get("o") != openid:
            raise InvalidPhoneCode()
        if not cache.add("wechat:dev:phone-code-used:" + hashlib.sha256(code.encode()).hexdigest(), 1,
                         PHONE_CODE_MAX_AGE_SECONDS + 60):
            raise InvalidPhoneCode()
        return phone
