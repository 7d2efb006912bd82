from dataclasses import dataclass


@dataclass(frozen=True)
class WxSession:
    """What code2Session gives the server. `session_key` never leaves the server."""

    openid: str
    session_key: str
    unionid: str = ""


class WeChatBackend:
    name = "abstract"

    def code_to_session(self, code: str) -> WxSession:
        """Exchange a `wx.login` code (single use, 5 minutes) for the user's identity."""
        raise NotImplementedError
