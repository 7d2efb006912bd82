from django.conf import settings
from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views import defaults
from django.views.static import serve


def healthz(request):
    """One trivial query: the baseline every benchmark compares against."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return JsonResponse({"ok": value == 1})


def readyz(request):
    """200 when this process can serve: database (with every migration applied), cache and Celery
    broker answer (core/readiness.py); 503 naming each check otherwise. /healthz asks none of them."""
    from core.readiness import readiness

    checks = readiness()
    if all(outcome == "ok" for outcome in checks.values()):
        return JsonResponse({"ok": True, "checks": checks})
    failed = "、".join(name for name, outcome in checks.items() if outcome != "ok")
    return JsonResponse({"error": {"code": "not_ready", "message": f"服务未就绪：{failed}", "details": checks}},
                        status=503, json_dumps_params={"ensure_ascii": False})


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the static icon."""
    return HttpResponsePermanentRedirect(static("img/favicon.ico"))


# Django's own error pages answer requests no view took (an unknown path, a path parameter the URL
# pattern refuses, a malformed request). Under /api/ they answer in the API's error shape, so a
# client (and the schema) sees one kind of error body; elsewhere the usual pages stay.
def _api_error(request, *, status: int, code: str, message: str):
    if not request.path.startswith("/api/"):
        return None
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status,
                        json_dumps_params={"ensure_ascii": False})


def bad_request(request, exception):
    return _api_error(request, status=400, code="bad_request", message="请求格式错误") or defaults.bad_request(
        request, exception)


def page_not_found(request, exception):
    return _api_error(request, status=404, code="not_found", message="找不到该对象") or defaults.page_not_found(
        request, exception)


def server_error(request):
    return _api_error(request, status=500, code="server_error", message="服务器出错了，请稍后再试") or (
        defaults.server_error(request))


def media(request, path):
    """Uploaded and seeded files, when Django serves them itself (settings.SERVE_MEDIA)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


def permission_denied(request, exception):
    return _api_error(request, status=403, code="permission_denied", message="没有权限") or (
        defaults.permission_denied(request, exception))


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a write without the CSRF token (a session's page must send X-CSRFToken)."""
    from django.views.csrf import csrf_failure as default_csrf_failure

    return _api_error(request, status=403, code="csrf_failed", message="页面已过期，请刷新后重试") or (
        default_csrf_failure(request, reason))
