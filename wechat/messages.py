"""Subscribe-message field rules (订阅消息), checked before anything is sent.

WeChat refuses a whole message (errcode 47003) when one field breaks its type's rule, and the
customer never hears of it; so values are fitted here: long `thing` text is cut with an
ellipsis, and what cannot be fitted is refused with a clear error.
"""

import re
from datetime import datetime

from django.utils import timezone

from core.errors import ValidationFailed

_CJK = re.compile(r"[\u3400-\u9fff]")
_TIME = re.compile(r"^(\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2}(~(\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2})?\Z")
_DATE = re.compile(r"^\d{4}(年|-)\d{1,2}(月|-)\d{1,2}日?( \d{1,2}:\d{2})?\Z")
_AMOUNT = re.compile(r"^[¥￥$]?\d{1,10}(\.\d{1,2})?元?\Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_field(kind: str, value) -> str:
    """The value fitted to its WeChat field type, or ValidationFailed."""
    text = str(value).strip()
    if kind == "thing":
        return _cut(text, 20)
    if kind in ("character_string", "letter", "number"):
        limit_ok = len(text) <= 32
        if kind == "character_string" and (_CJK.search(text) or not limit_ok):
            raise ValidationFailed(f"character_string 字段不能含中文且 ≤32 位：{text!r}", code="message_field")
        if kind == "number" and not (limit_ok and re.fullmatch(r"[0-9.]+", text)):
            raise ValidationFailed(f"number 字段须为 ≤32 位数字：{text!r}", code="message_field")
        if kind == "letter" and not (limit_ok and re.fullmatch(r"[A-Za-z]+", text)):
            raise ValidationFailed(f"letter 字段须为 ≤32 个字母：{text!r}", code="message_field")
        return text
    if kind == "amount":
        if not _AMOUNT.match(text):
            raise ValidationFailed(f"amount 字段格式不正确：{text!r}", code="message_field")
        return text
    if kind == "phone_number":
        if len(text) > 17:
            raise ValidationFailed("phone_number 字段 ≤17 位", code="message_field")
        return text
    if kind == "name":
        return _cut(text, 10) if _CJK.search(text) else _cut(text, 20)
    if kind == "phrase":
        if not (len(text) <= 5 and all(_CJK.match(ch) for ch in text)):
            raise ValidationFailed(f"phrase 字段须为 ≤5 个汉字：{text!r}", code="message_field")
        return text
    if kind == "time":
        if not _TIME.match(text):
            raise ValidationFailed(f"time 字段格式不正确：{text!r}", code="message_field")
        return text
    if kind == "date":
        if not _DATE.match(text):
            raise ValidationFailed(f"date 字段格式不正确：{text!r}", code="message_field")
        return text
    if kind == "car_number":
        return _cut(text, 8)
    if kind == "symbol":
        return _cut(text, 5)
    raise ValidationFailed(f"未知字段类型 {kind}", code="message_field")


def subscribe_data(fields: dict[str, object]) -> dict[str, dict[str, str]]:
    """{"thing1": "…", "amount2": "¥12.00"} → WeChat's {"thing1": {"value": …}} with every value fitted.

    The type is the key's letters (thing1 → thing), as WeChat names template keys.
    """
    data = {}
    for key, value in fields.items():
        kind = re.sub(r"\d+$", "", key)
        data[key] = {"value": fit_field(kind, value)}
    return data


def time_value(moment: datetime) -> str:
    """A `time` field's value for a moment, in local time: 2026年12月7日 08:05."""
    local = timezone.localtime(moment)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
