from dataclasses import dataclass, field

from ..errors import InvalidLoginCode
from .codes_base import CodesMixin
from .contacts_base import ContactsMixin
from .tags_base import TagsMixin
from .messages_base import MessagesMixin
from .pay_base import PayMixin

# WeChat documents no length for a wx.login code (they are 32 characters today); the API's
# input limit is the ceiling, and both backends refuse the same inputs.
LOGIN_CODE_MAX_LENGTH = 512


@dataclass(frozen=True)
class WxSession:
    """What code2Session gives the server. `session_key` never leaves the server."""

    openid: str
    # Out of repr so that logging a WxSession (or a traceback showing locals) cannot leak it.
    session_key: str = field(repr=False)
    unionid: str = ""


def validate_login_code(code: object) -> str:
    """Refuse what cannot be a login code before anything is spent on it (a WeChat call, a cache write)."""
    if (
        not isinstance(code, str)
        or not code
        or len(code) > LOGIN_CODE_MAX_LENGTH
        # Visible ASCII only: no spaces, control characters or anything that would need escaping.
        or not all("!" <= ch <= "~" for ch in code)
    ):
        raise InvalidLoginCode()
    return code


class WeChatBackend(MessagesMixin, PayMixin, CodesMixin, ContactsMixin, TagsMixin):
    name = "abstract"

    def code_to_session(self, code: str) -> WxSession:
        """Exchange a `wx.login` code (single use, 5 minutes) for the user's identity."""
        raise NotImplementedError

    def get_phone_number(self, *, code: str, openid: str = "") -> str:
        """getPhoneNumber's code (single use, 5 minutes) → the user's mainland mobile number."""
        raise NotImplementedError
