"""Refusals that hold for every URL, before any view runs."""

from django.http import JsonResponse

from .errors import ApplicationError
from .inputs import has_control_characters, text_check

FORM = "application/x-www-form-urlencoded"


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
