"""DRF glue shared by every app: the error shape `{"error": {code, message, details}}`."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError

logger = logging.getLogger(__name__)

_DRF_MESSAGES = {
    "not_authenticated": "请先登录",
    "authentication_failed": "登录已失效，请重新进入",
    "permission_denied": "没有权限",
    "not_found": "找不到该对象",
    "method_not_allowed": "不支持的请求方法",
    "parse_error": "请求格式错误",
    "unsupported_media_type": "不支持的请求格式",
    "throttled": "请求过于频繁，请稍后再试",
    "invalid": "输入有误",
}


def _first_message(detail) -> str | None:
    if isinstance(detail, list):
        for item in detail:
            found = _first_message(item)
            if found:
                return found
    elif isinstance(detail, dict):
        for value in detail.values():
            found = _first_message(value)
            if found:
                return found
    elif detail:
        return str(detail)
    return None


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    if isinstance(exc, drf_exceptions.ValidationError):
        code = "invalid"
        details = exc.detail
        message = _first_message(exc.detail) or _DRF_MESSAGES["invalid"]
    else:
        code = exc.default_code if isinstance(exc, drf_exceptions.APIException) else "error"
        details = {}
        message = _DRF_MESSAGES.get(code) or _first_message(getattr(exc, "detail", None)) or "请求无法处理"
    response.data = {"error": {"code": code, "message": message, "details": details}}
    return response


def page_links(request, number: int, has_next: bool) -> dict:
    """{"next", "previous"}: this request's own URL with another page number, as DRF's
    PageNumberPagination writes them (page 1 is the URL without `page`)."""
    url = request.build_absolute_uri()
    if number <= 1:
        previous = None
    elif number == 2:
        previous = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1)
    return {"next": replace_query_param(url, "page", number + 1) if has_next else None, "previous": previous}
