"""Input from outside, checked once for every interface: text, JSON bodies, numbers, times.

Every rule here answers bad input with a ValidationFailed (a 400 in the usual error shape, a
Chinese message) before anything is read from or written to the database: PostgreSQL refuses a
NUL in text, a decimal context overflows on 1e30, Python's JSON parser runs out of stack on a
body nested a thousand deep, and each of those was a 500.
"""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .errors import ValidationFailed

# C0 controls except tab, LF and CR, and DEL: nobody types them, PostgreSQL refuses NUL.
# Lone surrogates (only a JSON "\ud800" escape makes one) cannot be encoded to UTF-8 at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Deep enough for any body this API takes (checkout: object > lines > line), far below the stack.
MAX_JSON_DEPTH = 32


class InvalidCharacters(ValidationFailed):
    code = "invalid_characters"
    default_message = "输入含有不可见的控制字符，请删除后重试"


class MalformedJSON(ValidationFailed):
    code = "parse_error"
    default_message = "请求格式错误，请以 JSON 提交"


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def text_check(value: str, *, label: str = "输入内容", field: str = "") -> str:
    """The one rule for text from outside: no control characters (tab and newlines are fine)."""
    if _CONTROL.search(value):
        raise InvalidCharacters(f"{label}含有不可见的控制字符，请删除后重试",
                                details={"field": field} if field else {})
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_parse(raw: bytes | str):
    """A JSON body as Python, or MalformedJSON / InvalidCharacters.

    Refused: anything that is not strict JSON (NaN and Infinity included), a body nested deeper
    than MAX_JSON_DEPTH (the parser's RecursionError is caught too, whatever the stack left), and
    a control character in any key or string, named by its path (`lines[0].note`).
    """
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedJSON() from None
    _check_json_tree(data)
    return data


def _check_json_tree(data) -> None:
    stack = [(data, "", 1)]
    while stack:  # iterative: a tree just under the parser's limit must not overflow here either
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if _CONTROL.search(value):
                text_check(value, field=path or "$")
        elif isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise MalformedJSON(f"请求的 JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    if _CONTROL.search(key):
                        text_check(key, field=f"{path}.{key}" if path else key)
                    child = f"{path}.{key}" if path else key
                else:
                    child = f"{path}[{key}]"
                stack.append((item, child, depth + 1))


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the rules of json_parse (the default parser of every API view)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json_parse(stream.read())
        except MalformedJSON as error:
            raise ParseError(error.message) from None


def body_size_check(request, *, max_bytes: int, message: str, code: str = "body_too_large",
                    error: type[ValidationFailed] = ValidationFailed) -> None:
    """Refuse a request whose declared body (Content-Length) is beyond `max_bytes` before any of
    it is read: `error` (a 400) with `message`, `code` and the declared size in its details. A
    missing or garbled Content-Length is left to the server's own limits."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes:
        raise error(message, code=code, details={"bytes": length})


def id_from_text(raw) -> int | None:
    """A database id sent as text: ASCII digits within a bigint, else None. (`"²".isdigit()` is
    true and int() refuses it; 99999999999999999999 overflows the column.)"""
    text = raw.strip() if isinstance(raw, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    value = int(text)
    return value if value > 0 else None


def decimal_check(value: Decimal, *, label: str, limit: Decimal, code: str = "invalid_number") -> Decimal:
    """A parsed Decimal that is finite and below `limit` in size, so that quantizing it can never
    overflow the decimal context (1e26 quantized to cents needs 29 digits; the context has 28)."""
    if not value.is_finite():
        raise ValidationFailed(f"{label}格式不正确", code=code)
    if abs(value) >= limit:
        raise ValidationFailed(f"{label}过大", code=code)
    return value


def decimal_parse(raw, *, label: str, limit: Decimal, code: str = "invalid_number") -> Decimal:
    """Text or a JSON number to a Decimal (finite, below `limit`), or a Chinese refusal."""
    if isinstance(raw, bool) or raw is None:
        raise ValidationFailed(f"{label}格式不正确", code=code)
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{label}格式不正确", code=code) from None
    return decimal_check(value, label=label, limit=limit, code=code)


def aware_datetime_param(raw: str, *, name: str) -> datetime:
    """An ISO 8601 time with its zone (`?after=`), in UTC; a malformed or impossible one refused."""
    message = f"{name} 须为带时区的 ISO 8601 时间"
    try:
        value = parse_datetime(raw)  # None when malformed; ValueError for 2026-02-30
        if value is None or value.tzinfo is None:
            raise ValueError(raw)
        return value.astimezone(UTC)  # OverflowError at the ends of the calendar
    except (ValueError, OverflowError):
        raise ValidationFailed(message, code="invalid_parameter") from None
