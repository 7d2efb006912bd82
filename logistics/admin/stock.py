"""Admin of suppliers, stock and its ledger, purchase tasks, receipts and batches."""

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

from core.admin import ReadOnlyAdmin, ReadOnlyInline
from core.errors import ApplicationError

from ..models import (
    Batch,
    Driver,
    PurchaseTask,
    PurchaseTaskLine,
    Receipt,
    Stock,
    StockMove,
    Supplier,
)
from ..purchasing import purchase_tasks_build


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


class PurchaseTaskLineInline(ReadOnlyInline):
    """Lines are computed from orders (and filled in by the driver): shown, never typed here."""

    model = PurchaseTaskLine
    fields = ("product", "ordered_quantity", "available_quantity", "net_quantity", "purchase_quantity",
              "purchase_unit", "collected_quantity", "collected_weight", "shortfall_reason")
    readonly_fields = fields

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
            # A suspended driver (logistics.conduct) or one out of post gets no purchase task.
            kwargs["queryset"] = Driver.objects.assignable(Driver.Kind.PURCHASING)
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            field.error_messages["invalid_choice"] = "只能分配给在职且未被暂停的进货司机"
            return field
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


class BatchInline(ReadOnlyInline):
    model = Batch
    fields = ("code", "product", "quantity", "weight", "production_date", "expiry_date", "unit_cost", "trace")
    readonly_fields = fields

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
