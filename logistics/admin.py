from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count, F
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, SaveOnlyWhenEditableMixin
from core.errors import ApplicationError

from .models import Batch, Driver, PurchaseTask, PurchaseTaskLine, Receipt, Stock, StockMove, Supplier
from .purchasing import purchase_tasks_build


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_name", "phone", "address", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "contact_name", "phone")




@admin.register(Stock)
class StockAdmin(ReadOnlyAdmin):
    list_display = ("product_code", "product_name", "on_hand", "reserved", "available_now", "updated_at", "ledger")
    list_select_related = ("product",)
    search_fields = ("product__code", "product__name")
    fields = ("product", "on_hand", "reserved", "available_now", "updated_at")
    readonly_fields = fields

    @admin.display(description="SKU 编码", ordering="product__code")
    def product_code(self, obj):
        return obj.product.code

    @admin.display(description="商品", ordering="product__name")
    def product_name(self, obj):
        return obj.product.name

    @admin.display(description="可用", ordering=F("on_hand") - F("reserved"))
    def available_now(self, obj):
        return obj.available

    @admin.display(description="流水")
    def ledger(self, obj):
        url = reverse("admin:logistics_stockmove_changelist")
        return format_html('<a href="{}?stock__id__exact={}">查看</a>', url, obj.pk)


@admin.register(StockMove)
class StockMoveAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "product_code", "product_name", "kind", "on_hand_delta", "reserved_delta",
                    "reference", "note")
    list_filter = ("kind",)
    search_fields = ("stock__product__code", "reference")
    search_help_text = "按 SKU 编码或关联单据搜索"
    list_select_related = ("stock__product",)
    date_hierarchy = "created_at"
    fields = ("stock", "kind", "on_hand_delta", "reserved_delta", "reference", "note", "created_at")
    readonly_fields = fields

    @admin.display(description="SKU 编码", ordering="stock__product__code")
    def product_code(self, obj):
        return obj.stock.product.code

    @admin.display(description="商品")
    def product_name(self, obj):
        return obj.stock.product.name


# --- Purchasing and receiving --------------------------------------------------------------------

class PurchaseBuildForm(forms.Form):
    for_date = forms.DateField(label="送达日期", widget=forms.DateInput(attrs={"type": "date"}))


class PurchaseTaskLineInline(admin.TabularInline):
    """Lines are computed from orders (and filled in by the driver): shown, never typed here."""

    model = PurchaseTaskLine
    fields = ("product", "ordered_quantity", "available_quantity", "net_quantity", "purchase_quantity",
              "purchase_unit", "collected_quantity", "collected_weight", "shortfall_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


def _purchase_report_messages(admin_obj, request, report) -> None:
    admin_obj.message_user(
        request,
        f"{report.for_date:%Y-%m-%d} 采购任务已生成：新建 {report.created}，更新 {report.updated}，"
        f"未变化 {report.unchanged}，删除 {report.deleted}，共 {report.lines} 行",
        messages.SUCCESS,
    )
    if report.no_supplier:
        names = "、".join(f"{row['code']} {row['name']}（{row['reason']}）" for row in report.no_supplier[:20])
        more = f" 等 {len(report.no_supplier)} 个" if len(report.no_supplier) > 20 else ""
        admin_obj.message_user(request, f"以下商品有采购需求但没有可用的默认供应商，未生成任务：{names}{more}",
                               messages.WARNING)
    if report.locked:
        names = "、".join(row["supplier"] for row in report.locked)
        admin_obj.message_user(request, f"以下供应商的任务已提货，未改动：{names}", messages.INFO)


@admin.register(PurchaseTask)
class PurchaseTaskAdmin(admin.ModelAdmin):
    change_list_template = "admin/logistics/purchasetask/change_list.html"
    list_display = ("for_date", "supplier", "driver", "status", "line_count", "collected_at")
    list_filter = ("status", "for_date", "driver")
    list_select_related = ("supplier", "driver")
    search_fields = ("supplier__name", "driver__name")
    date_hierarchy = "for_date"
    fields = ("supplier", "for_date", "driver", "status", "collected_at")
    readonly_fields = ("supplier", "for_date", "status", "collected_at")
    inlines = (PurchaseTaskLineInline,)
    actions = ("rebuild_dates",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(line_count=Count("lines"))

    @admin.display(description="品项数", ordering="line_count")
    def line_count(self, obj):
        return obj.line_count

    def has_add_permission(self, request):
        return False  # tasks come from orders: use 生成采购任务

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "driver":
            kwargs["queryset"] = Driver.objects.filter(kind=Driver.Kind.PURCHASING, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.action(description="按所选任务的日期重新生成采购任务", permissions=["change"])
    def rebuild_dates(self, request, queryset):
        for day in sorted(set(queryset.values_list("for_date", flat=True))):
            _purchase_report_messages(self, request, purchase_tasks_build(for_date=day))

    def get_urls(self):
        return [
            path("build/", self.admin_site.admin_view(self.build_view), name="logistics_purchasetask_build"),
            *super().get_urls(),
        ]

    def build_view(self, request):
        if not self.has_change_permission(request):
            raise DjangoPermissionDenied
        initial = {"for_date": timezone.localdate() + timedelta(days=1)}
        form = PurchaseBuildForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                report = purchase_tasks_build(for_date=form.cleaned_data["for_date"])
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                _purchase_report_messages(self, request, report)
                return redirect(reverse("admin:logistics_purchasetask_changelist")
                                + f"?for_date={report.for_date.isoformat()}")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "生成采购任务",
                   "form": form}
        return TemplateResponse(request, "admin/logistics/purchasetask/build.html", context)


class BatchInline(admin.TabularInline):
    model = Batch
    fields = ("code", "product", "quantity", "weight", "production_date", "expiry_date", "unit_cost", "trace")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @admin.display(description="溯源页")
    def trace(self, obj):
        return format_html('<a href="{}" target="_blank">打开</a>', reverse("batch-trace", args=[obj.code]))


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    """Receipts are made on the receiving page (stock and ledger change with them), never here."""

    list_display = ("id", "created_at", "supplier", "purchase_task", "received_by", "batch_count", "labels")
    list_select_related = ("supplier", "purchase_task__supplier", "received_by")
    list_filter = ("supplier",)
    date_hierarchy = "created_at"
    fields = ("supplier", "purchase_task", "received_by", "note", "created_at", "labels")
    readonly_fields = fields
    inlines = (BatchInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(batch_count=Count("batches"))

    @admin.display(description="批次数", ordering="batch_count")
    def batch_count(self, obj):
        return obj.batch_count

    @admin.display(description="标签")
    def labels(self, obj):
        url = reverse("logistics:receiving-labels", args=[obj.pk])
        return format_html('<a href="{}" target="_blank">打印标签 (PDF)</a>', url)


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = ("code", "product", "quantity", "weight", "production_date", "expiry_date", "unit_cost",
                    "supplier", "created_at", "trace")
    list_select_related = ("product", "receipt__supplier")
    search_fields = ("code", "product__code", "product__name")
    search_help_text = "按批次号、SKU 编码或商品名称搜索"
    date_hierarchy = "created_at"
    fields = ("code", "receipt", "product", "quantity", "weight", "production_date", "expiry_date", "unit_cost",
              "created_at")
    readonly_fields = fields

    @admin.display(description="供应商")
    def supplier(self, obj):
        return obj.receipt.supplier

    @admin.display(description="溯源页")
    def trace(self, obj):
        return format_html('<a href="{}" target="_blank">打开</a>', reverse("batch-trace", args=[obj.code]))


# --- Delivery runs -------------------------------------------------------------------------------

from django.db.models import Q  # noqa: E402

from .dispatch import runs_build  # noqa: E402
from .models import DeliveryRun, Stop  # noqa: E402


class RunBuildForm(forms.Form):
    delivery_date = forms.DateField(label="送货日期", widget=forms.DateInput(attrs={"type": "date"}))
    drivers = forms.ModelMultipleChoiceField(
        label="送货司机", required=False, widget=forms.CheckboxSelectMultiple,
        queryset=Driver.objects.filter(kind=Driver.Kind.DELIVERY, is_active=True, user__is_active=True),
        help_text="不选则为全部在职送货司机",
    )
    time_limit_s = forms.IntegerField(label="优化时长(秒)", min_value=1, max_value=60, initial=5,
                                      help_text="OR-Tools 搜索时间上限；找不到解时按就近顺序排线")


def _run_build_messages(admin_obj, request, result) -> None:
    level = messages.WARNING if result.dropped or result.without_location else messages.SUCCESS
    admin_obj.message_user(request, result.summary(), level)


class StopInline(admin.TabularInline):
    """Stops are planned by 排线 and completed by the driver with proof: shown, never typed here."""

    model = Stop
    fields = ("sequence", "order_link", "restaurant", "status", "proof", "photo_link", "photo_taken_at",
              "completed_at", "failure_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("sequence",)

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description="订单")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    @admin.display(description="餐厅")
    def restaurant(self, obj):
        return obj.order.restaurant_name

    @admin.display(description="签收")
    def proof(self, obj):
        if obj.proof_kind == Stop.Proof.SIGNED:
            return f"{obj.signed_by} 签收"
        if obj.proof_kind == Stop.Proof.LEFT:
            return f"放在{obj.left_at}"
        return "-"

    @admin.display(description="照片")
    def photo_link(self, obj):
        return format_html('<a href="{}" target="_blank">查看</a>', obj.photo.url) if obj.photo else "-"


@admin.register(DeliveryRun)
class DeliveryRunAdmin(SaveOnlyWhenEditableMixin, admin.ModelAdmin):
    change_list_template = "admin/logistics/deliveryrun/change_list.html"
    list_display = ("delivery_date", "driver", "status", "stop_count", "delivered_count", "planned_by",
                    "total_distance_km")
    list_filter = ("status", "delivery_date", "driver")
    list_select_related = ("driver",)
    search_fields = ("driver__name", "stops__order__number")
    date_hierarchy = "delivery_date"
    fields = ("driver", "delivery_date", "status", "planned_by", "total_distance_km", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (StopInline,)
    actions = ("build_for_dates",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            stop_count=Count("stops"), delivered_count=Count("stops", filter=Q(stops__status=Stop.Status.DELIVERED)))

    @admin.display(description="站点数", ordering="stop_count")
    def stop_count(self, obj):
        return obj.stop_count

    @admin.display(description="已送达", ordering="delivered_count")
    def delivered_count(self, obj):
        return obj.delivered_count

    def has_add_permission(self, request):
        return False  # runs come from 排线

    def has_delete_permission(self, request, obj=None):
        return False  # a run's stops are its history; never wiped

    @admin.action(description="为所选日期排线", permissions=["change"])
    def build_for_dates(self, request, queryset):
        for day in sorted(set(queryset.values_list("delivery_date", flat=True))):
            try:
                _run_build_messages(self, request, runs_build(delivery_date=day))
            except ApplicationError as error:
                self.message_user(request, f"{day}：{error.message}", messages.ERROR)

    def get_urls(self):
        return [
            path("build/", self.admin_site.admin_view(self.build_view), name="logistics_deliveryrun_build"),
            *super().get_urls(),
        ]

    def build_view(self, request):
        if not self.has_change_permission(request):
            raise DjangoPermissionDenied
        form = RunBuildForm(request.POST or None, initial={"delivery_date": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            drivers = form.cleaned_data["drivers"]
            try:
                result = runs_build(delivery_date=form.cleaned_data["delivery_date"],
                                    driver_ids=[driver.pk for driver in drivers] or None,
                                    time_limit_s=form.cleaned_data["time_limit_s"])
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                _run_build_messages(self, request, result)
                return redirect(reverse("admin:logistics_deliveryrun_changelist")
                                + f"?delivery_date={result.delivery_date.isoformat()}")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "排线", "form": form}
        return TemplateResponse(request, "admin/logistics/deliveryrun/build.html", context)


@admin.register(Stop)
class StopAdmin(ReadOnlyAdmin):
    list_display = ("delivery_date", "driver", "sequence", "order_number", "restaurant", "status", "proof_kind",
                    "photo_taken_at", "completed_at")
    list_filter = ("status", "proof_kind", "run__delivery_date")
    list_select_related = ("run__driver", "order")
    search_fields = ("order__number", "order__restaurant_name", "run__driver__name")
    search_help_text = "按订单号、餐厅或司机搜索"
    fields = ("run", "order", "sequence", "status", "proof_kind", "signed_by", "left_at", "photo", "photo_taken_at",
              "failure_reason", "completed_at")
    readonly_fields = fields

    @admin.display(description="送货日期", ordering="run__delivery_date")
    def delivery_date(self, obj):
        return obj.run.delivery_date

    @admin.display(description="司机")
    def driver(self, obj):
        return obj.run.driver.name

    @admin.display(description="订单号", ordering="order__number")
    def order_number(self, obj):
        return obj.order.number

    @admin.display(description="餐厅")
    def restaurant(self, obj):
        return obj.order.restaurant_name


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    """Purchasing and delivery drivers. The login (User) is created first in 用户, then linked here;
    putting it in the group 进货司机 / 送货司机 is done on save."""

    list_display = ("name", "kind", "phone", "vehicle_plate", "max_stops", "max_weight_kg", "user", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "phone", "vehicle_plate", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)

    def save_model(self, request, obj, form, change):
        from django.contrib.auth.models import Group

        from .roles import DELIVERY_GROUP, PURCHASING_GROUP

        super().save_model(request, obj, form, change)
        name = DELIVERY_GROUP if obj.kind == Driver.Kind.DELIVERY else PURCHASING_GROUP
        group, _ = Group.objects.get_or_create(name=name)
        obj.user.groups.add(group)


# --- Inventory turnover report -------------------------------------------------------------------

from datetime import date  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.db.models import DecimalField, ExpressionWrapper, Max, Sum  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402
from django.http import HttpResponseNotAllowed, QueryDict  # noqa: E402

from .models import InventoryValueSnapshot  # noqa: E402
from .reports import inventory_turnover, inventory_value_snapshot  # noqa: E402

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
