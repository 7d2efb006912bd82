"""The inventory turnover report (库存周转) and its daily value snapshots."""

from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from ..models import InventoryValueSnapshot, Stock
from ..reports import inventory_turnover, inventory_value_snapshot

TURNOVER_DEFAULT_DAYS = 30
TURNOVER_MAX_DAYS = 366
# Stock history starts with the system; an earlier date is a typing slip (and year 1 would not
# even convert to UTC for the query).
TURNOVER_EARLIEST = date(2000, 1, 1)


def _date_input():
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class TurnoverPeriodForm(forms.Form):
    start = forms.DateField(label="开始日期", required=False, widget=_date_input(),
                            error_messages={"invalid": "开始日期格式不正确（如 2026-11-01）"})
    end = forms.DateField(label="结束日期", required=False, widget=_date_input(),
                          error_messages={"invalid": "结束日期格式不正确（如 2026-11-30）"})

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("end") or today
        if end > today:
            raise forms.ValidationError("结束日期不能晚于今天")
        if end < TURNOVER_EARLIEST or (data.get("start") and data["start"] < TURNOVER_EARLIEST):
            raise forms.ValidationError(f"日期不能早于 {TURNOVER_EARLIEST:%Y-%m-%d}")
        start = data.get("start") or max(end - timedelta(days=TURNOVER_DEFAULT_DAYS - 1), TURNOVER_EARLIEST)
        if start > end:
            raise forms.ValidationError("开始日期不能晚于结束日期")
        if (end - start).days + 1 > TURNOVER_MAX_DAYS:
            raise forms.ValidationError(f"日期范围最多 {TURNOVER_MAX_DAYS} 天")
        data["start"], data["end"] = start, end
        return data


def _stock_position() -> list[dict]:
    """Stock now per top-level category (SKUs, on hand, reserved, available, value at average
    cost), in one grouped query. Quantities add up each product's sale unit (箱, 斤, 袋...)."""
    value = ExpressionWrapper(F("on_hand") * F("average_cost"),
                              output_field=DecimalField(max_digits=18, decimal_places=4))
    rows = (Stock.objects
            .annotate(aisle=Coalesce(F("product__category__parent_id"), F("product__category_id")),
                      aisle_name=Coalesce(F("product__category__parent__name"), F("product__category__name")),
                      aisle_order=Coalesce(F("product__category__parent__sort_order"),
                                           F("product__category__sort_order")),
                      value=value)
            .values("aisle", "aisle_name", "aisle_order")
            .annotate(skus=Count("id"), on_hand=Sum("on_hand"), reserved=Sum("reserved"), total_value=Sum("value"))
            .order_by("aisle_order", "aisle"))
    cent = Decimal("0.01")
    return [{"name": row["aisle_name"], "skus": row["skus"], "on_hand": row["on_hand"], "reserved": row["reserved"],
             "available": row["on_hand"] - row["reserved"],
             "value": (row["total_value"] or Decimal("0")).quantize(cent)} for row in rows]


def _position_total(rows: list[dict]) -> dict:
    zero = Decimal("0.00")
    return {"name": "全部", **{key: sum((row[key] for row in rows), zero if key != "skus" else 0)
                                for key in ("skus", "on_hand", "reserved", "available", "value")}}


@admin.register(InventoryValueSnapshot)
class InventoryValueSnapshotAdmin(admin.ModelAdmin):
    """库存周转: cost of goods shipped / average inventory over a period, per top-level category and
    overall, with today's stock position. Snapshots are written nightly (or with the button here),
    never typed: the list page is the report."""

    report_template = "admin/logistics/inventoryvaluesnapshot/report.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Model-level "change" lets staff record today's snapshot; a snapshot row is never edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("record/", self.admin_site.admin_view(self.record_view),
                 name="logistics_inventoryvaluesnapshot_record"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise DjangoPermissionDenied
        today = timezone.localdate()
        default_start = today - timedelta(days=TURNOVER_DEFAULT_DAYS - 1)
        form = TurnoverPeriodForm(request.GET or None, initial={"start": default_start, "end": today})
        error = ""
        if form.is_bound and form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        else:
            if form.is_bound:
                error = "；".join(message for messages_ in form.errors.values() for message in messages_)
            # A bad period shows the error above the default period's figures, never a 500.
            start, end = default_start, today
        rows = inventory_turnover(start=start, end=end)
        categories, overall = rows[:-1], rows[-1]
        position = _stock_position()
        snapshots = InventoryValueSnapshot.objects.filter(category__isnull=True).aggregate(
            last=Max("day"), in_period=Count("id", filter=Q(day__gte=start, day__lte=end)))
        chart = {
            "labels": [row.name for row in rows],
            "turnover": [float(row.turnover) if row.turnover is not None else None for row in rows],
            "days": [float(row.days_of_inventory) if row.days_of_inventory is not None else None for row in rows],
        }
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "库存周转报表",
            "form": form, "error": error, "start": start, "end": end, "days": (end - start).days + 1,
            "categories": categories, "overall": overall, "chart": chart,
            "position": position, "position_total": _position_total(position),
            "snapshot_last": snapshots["last"], "snapshot_days": snapshots["in_period"],
            "can_record": self.has_change_permission(request), "today": today,
            "quick": {n: today - timedelta(days=n - 1) for n in (7, 30, 90)},
            "query": f"start={start.isoformat()}&end={end.isoformat()}",
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.report_template, context)

    def record_view(self, request):
        """记录今日快照 (POST): today's values, written again if already there (idempotent)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise DjangoPermissionDenied
        today = timezone.localdate()
        inventory_value_snapshot(day=today)
        total = InventoryValueSnapshot.objects.filter(day=today, category__isnull=True).values_list(
            "value", flat=True).first()
        self.message_user(request, f"已记录 {today:%Y-%m-%d} 的库存金额快照：合计 ¥{total}", messages.SUCCESS)
        # Back to the period being looked at; only the two known dates travel, re-encoded.
        back = QueryDict(request.POST.get("query", ""))
        keep = QueryDict(mutable=True)
        for key in ("start", "end"):
            if back.get(key):
                keep[key] = back[key]
        url = reverse("admin:logistics_inventoryvaluesnapshot_changelist")
        return redirect(f"{url}?{keep.urlencode()}" if keep else url)
