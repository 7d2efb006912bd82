"""A local WeChat: each browser is a WeChat user with a stable OpenID-like identifier.

The browser's "device" is a signed cookie holding its OpenID (set by `wechat.views.dev_login`,
which plays `wx.login`). The login code it hands out behaves like WeChat's: it is bound to
one OpenID, works once and expires after 5 minutes, so the server path is the same as `real`.
"""

import hashlib
import secrets

from django.core import signing
from django.core.cache import cache

from ..errors import InvalidLoginCode
from .base import WeChatBackend, WxSession, validate_login_code
from .dev_codes import DevCodesMixin
from .dev_contacts import DevContactsMixin
from .dev_tags import DevTagsMixin
from .dev_messages import DevMessagesMixin
from .dev_pay import DevPayMixin
from .dev_phone import DevPhoneMixin

CODE_SALT = "wechat.dev.login-code"
CODE_MAX_AGE_SECONDS = 5 * 60
_OPENID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"


def new_dev_openid() -> str:
    # Real OpenIDs are 28 characters starting with "o"; keep the shape.
    return "o" + "".join(secrets.choice(_OPENID_ALPHABET) for _ in range(27))


class DevBackend(DevMessagesMixin, DevPayMixin, DevPhoneMixin, DevCodesMixin, DevContactsMixin, DevTagsMixin,
                 WeChatBackend):
    name = "dev"

    def issue_login_code(self, openid: str) -> str:
        """What `wx.login` returns on the phone whose WeChat user is `openid`."""
        return signing.dumps({"o": openid, "n": secrets.token_hex(4)}, salt=CODE_SALT, compress=True)

    def code_to_session(self, code: str) -> WxSession:
        validate_login_code(code)
        try:
            payload = signing.loads(code, salt=CODE_SALT, max_age=CODE_MAX_AGE_SECONDS)
        except signing.BadSignature:  # also SignatureExpired
            raise InvalidLoginCode()
        openid = payload.get("o") if isinstance(payload, dict) else None
        if not isinstance(openid, str) or not openid:
            raise InvalidLoginCode()
        # Single use, like WeChat's code (errcode 40163 "code been used").
        if not cache.add("wechat:dev:code-used:" + hashlib.sha256(code.encode()).hexdigest(), 1, CODE_MAX_AGE_SECONDS + 60):
            raise InvalidLoginCode()
        return WxSession(openid=openid, session_key=secrets.token_urlsafe(16))
