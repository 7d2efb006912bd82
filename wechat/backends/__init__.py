"""The only place that speaks WeChat.

`get_backend()` returns the configured implementation of `WeChatBackend`: `dev` plays WeChat
locally (same shapes, limits and failure modes), `real` calls the documented HTTP APIs. Code
elsewhere never knows which one it got.
"""

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import WeChatBackend, WxSession

__all__ = ["WeChatBackend", "WxSession", "get_backend"]


@lru_cache(maxsize=4)
def _backend_for(name: str) -> WeChatBackend:
    if name == "dev":
        from .dev import DevBackend

        return DevBackend()
    if name == "real":
        from .real import RealBackend

        return RealBackend()
    raise ImproperlyConfigured(f"WECHAT_BACKEND must be 'dev' or 'real', not {name!r}")


def get_backend() -> WeChatBackend:
    return _backend_for(settings.WECHAT_BACKEND)
