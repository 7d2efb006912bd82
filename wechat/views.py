"""Pages and endpoints that exist only with the `dev` backend: they play the WeChat client."""

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .backends import get_backend
from .backends.dev import new_dev_openid

DEVICE_COOKIE = "wxdev_device"
DEVICE_COOKIE_SALT = "wechat.dev.device"
DEVICE_COOKIE_MAX_AGE = 10 * 365 * 24 * 3600


def _dev_backend():
    if settings.WECHAT_BACKEND != "dev":
        raise Http404("dev WeChat is off")
    return get_backend()


@never_cache
@require_POST
def dev_login(request):
    """`wx.login()` on this browser: the browser is a phone, its cookie is its WeChat user."""
    backend = _dev_backend()
    openid = request.get_signed_cookie(DEVICE_COOKIE, default=None, salt=DEVICE_COOKIE_SALT)
    if not openid:
        openid = new_dev_openid()
    response = JsonResponse({"code": backend.issue_login_code(openid)})
    response.set_signed_cookie(
        DEVICE_COOKIE, openid, salt=DEVICE_COOKIE_SALT, max_age=DEVICE_COOKIE_MAX_AGE,
        httponly=True, samesite="Lax",
    )
    return response
