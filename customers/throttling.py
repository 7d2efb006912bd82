"""Rate limits on the mini program's identity endpoints (rates: settings.API_RATE_LIMITS).

Session creation is counted per address: the request carries only a wx.login code, no visitor
yet. Phone authorisation is counted per visitor and per address, before the phone code is sent
to WeChat: every successful exchange is billed, so a refused request spends nothing.
"""

from core.throttling import FixedWindowThrottle, IpThrottle

from .models import Visitor


class VisitorThrottle(FixedWindowThrottle):
    def identity(self, request) -> str | None:
        return str(request.auth.pk) if isinstance(request.auth, Visitor) else None


class SessionIpThrottle(IpThrottle):
    scope = "auth_session_ip"


class PhoneIpThrottle(IpThrottle):
    scope = "auth_phone_ip"


class PhoneVisitorThrottle(VisitorThrottle):
    scope = "auth_phone_visitor"
