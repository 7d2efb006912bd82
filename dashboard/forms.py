"""The dashboard's date range: Shanghai days, the last 30 by default, at most 366."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from .selectors import Period

DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)


def default_period(today: date | None = None) -> Period:
    today = today or timezone.localdate()
    return Period(first=today - timedelta(days=DEFAULT_DAYS - 1), last=today)


class PeriodForm(forms.Form):
    start = forms.DateField(label="开始日期", required=False, input_formats=["%Y-%m-%d"],
                            error_messages={"invalid": "开始日期格式有误，请按 年-月-日 填写（如 2026-12-01）"},
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label="结束日期", required=False, input_formats=["%Y-%m-%d"],
                          error_messages={"invalid": "结束日期格式有误，请按 年-月-日 填写（如 2026-12-31）"},
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        today = timezone.localdate()
        latest = today + timedelta(days=MAX_DAYS)
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        for label, day in (("开始日期", start), ("结束日期", end)):
            if day < EARLIEST or day > latest:
                raise forms.ValidationError(f"{label}须在 {EARLIEST:%Y-%m-%d} 至 {latest:%Y-%m-%d} 之间")
        if start > end:
            raise forms.ValidationError("开始日期不能晚于结束日期")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"日期范围最多 {MAX_DAYS} 天，请缩短范围")
        data["period"] = Period(first=start, last=end)
        return data

    def error_text(self) -> str:
        return "；".join(str(message) for messages in self.errors.values() for message in messages)
