"""The real WeChat: the documented HTTPS APIs on `settings.WECHAT_API_BASE`.

Login (code2Session) is here; getPhoneNumber is in `real_phone`, WeChat Pay (on
`settings.WECHATPAY_API_BASE`, through wechatpayv3) in `real_pay`.
"""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .. import http
from ..errors import InvalidLoginCode, WeChatRateLimited, WeChatRiskyUser
from .base import WeChatBackend, WxSession, validate_login_code
from .real_codes import RealCodesMixin
from .real_contacts import RealContactsMixin
from .real_tags import RealTagsMixin
from .real_messages import RealMessagesMixin
from .real_pay import RealPayMixin
from .real_phone import RealPhoneMixin

logger = logging.getLogger("wechat")

_OPENID_MAX_LENGTH = 64  # customers.Visitor.openid; real OpenIDs are 28 characters

# code2Session errcodes that say something about this user's attempt rather than about the
# service: 40029 invalid code, 40163 code been used, 45011 rate limit (100/min per user),
# 40226 risky user blocked by WeChat.
_ERR_INVALID_CODE = {40029, 40163}
_ERR_RATE_LIMITED = 45011
_ERR_RISKY_USER = 40226


class RealBackend(RealMessagesMixin, RealPayMixin, RealPhoneMixin, RealCodesMixin, RealContactsMixin,
                  RealTagsMixin, WeChatBackend):
    name = "real"

    def __init__(self):
        # Fail at the first use in a process, loudly, instead of answering every login with a
        # WeChat error about a missing secret.
        if not settings.WECHAT_SECRET:
            raise ImproperlyConfigured(
                "WECHAT_BACKEND=real needs WECHAT_SECRET: the mini program's AppSecret "
                "(mp.weixin.qq.com → 开发管理 → 开发设置), together with WECHAT_APPID."
            )

    def code_to_session(self, code: str) -> WxSession:
        validate_login_code(code)
        api = "jscode2session"
        data = http.request_json(
            "GET",
            "/sns/jscode2session",
            api=api,
            params={
                "appid": settings.WECHAT_APPID,
                "secret": settings.WECHAT_SECRET,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        errcode = http.errcode_of(data)
        if errcode in _ERR_INVALID_CODE:
            # The user's own stale or replayed code: routine, not an operational problem.
            logger.info("WeChat %s refused the login code: errcode=%s errmsg=%s", api, errcode, http.errmsg_of(data))
            raise InvalidLoginCode(details={"errcode": errcode})
        if errcode == _ERR_RATE_LIMITED:
            logger.warning("WeChat %s rate limited: errmsg=%s", api, http.errmsg_of(data))
            raise WeChatRateLimited(details={"errcode": errcode})
        if errcode == _ERR_RISKY_USER:
            logger.warning("WeChat %s blocked a risky user: errmsg=%s", api, http.errmsg_of(data))
            raise WeChatRiskyUser(details={"errcode": errcode})
        if errcode:
            raise http.errcode_error(api=api, data=data)

        openid, session_key, unionid = data.get("openid"), data.get("session_key"), data.get("unionid") or ""
        if (
            not isinstance(openid, str)
            or not 0 < len(openid) <= _OPENID_MAX_LENGTH
            or not isinstance(session_key, str)
            or not session_key
            or not isinstance(unionid, str)
            or len(unionid) > _OPENID_MAX_LENGTH
        ):
            logger.warning("WeChat %s answered without a usable openid/session_key (fields: %s)", api, sorted(data))
            raise http.external_error(api=api, reason="bad_response")
        return WxSession(openid=openid, session_key=session_key, unionid=unionid)
