"""Refusals that hold for every URL, before any view runs; and the answer when the database fails."""

import logging

from django.http import JsonResponse

from .errors import ApplicationError
from .inputs import has_control_characters, text_check

FORM = "application/x-www-form-urlencoded"

logger = logging.getLogger(__name__)


class ControlCharactersMiddleware:
    """A control character (a NUL above all) in the path, the query string or a plain form field
    is refused with a 400 here, once, instead of in each view (PostgreSQL refuses NUL in text: a
    `%00` in `?q=`, a product code or a batch code was a 500).

    Multipart bodies are left to their forms (reading them here would consume the upload stream);
    JSON bodies are checked by core.inputs.json_parse.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            self._check(request)
        except ApplicationError as error:
            return JsonResponse(error.as_dict(), status=error.status_code, json_dumps_params={"ensure_ascii": False})
        return self.get_response(request)

    @staticmethod
    def _check(request) -> None:
        text_check(request.path_info, label="网址", field="path")
        if request.META.get("QUERY_STRING"):
            _check_fields(request.GET, label="网址参数")
        if request.method == "POST" and request.content_type == FORM:
            _check_fields(request.POST, label="表单内容")


def _check_fields(fields, *, label: str) -> None:
    for key, values in fields.lists():
        for text in (key, *values):
            if has_control_characters(text):
                field = "" if has_control_characters(key) else key
                text_check(text, label=f"{label} {field}".strip(), field=field)


class DatabaseUnavailableMiddleware:
    """A request whose database connection failed answers 503 "retry", not 500 "bug".

    PostgreSQL restarting, failing over or cutting a connection raises OperationalError or
    InterfaceError in whatever query was running; the transaction is rolled back by the server,
    Django discards the broken connection at the end of the request, and the next request opens a
    fresh one (and core.db.drop_dead_connections drops idle ones the server hung up on). So the
    honest answer is "not now": 503 with Retry-After, in the API's error shape under /api/. A
    WeChat Pay notification answered 503 is sent again by WeChat, as it should be.
    """

    RETRY_AFTER_SECONDS = 1

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import InterfaceError, OperationalError
        from django.http import HttpResponse

        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path,
                       str(exception).strip().splitlines()[0] if str(exception).strip() else type(exception).__name__)
        message = "服务暂时不可用，请稍后重试"
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": {"code": "service_unavailable", "message": message, "details": {}}},
                                    status=503, json_dumps_params={"ensure_ascii": False})
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response
