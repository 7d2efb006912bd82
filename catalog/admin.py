from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from core.admin import ReadOnlyInline
from core.errors import ApplicationError
from core.inputs import id_from_text
from customers.models import Customer

from .csv_io import COLUMNS, MAX_FILE_BYTES, MAX_ROWS, product_export_csv, product_import_csv
from .forms import ProductImportForm
from .models import Cart, CartLine, Category, PriceList, PriceListEntry, Product
from .pictures import product_thumbnail_refresh
from .selectors import available_quantity
from .services import product_set_active

# An import of a badly broken file can have tens of thousands of errors; the page shows the first.
IMPORT_ERRORS_SHOWN = 500


class CategoryLevelFilter(admin.SimpleListFilter):
    title = "层级"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("1", "一级分类"), ("2", "二级分类")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(parent__isnull=True)
        if self.value() == "2":
            return queryset.filter(parent__isnull=False)
        return queryset


class TopCategoryFilter(admin.SimpleListFilter):
    """A top-level category: its own products and those of every shelf under it."""

    title = "一级分类"
    parameter_name = "top_category"

    def lookups(self, request, model_admin):
        return [(str(c.pk), c.name) for c in Category.objects.filter(parent__isnull=True).order_by("sort_order", "id")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # The admin stores filter values as strings; a non-number would be a 500 inside the ORM.
        top_id = id_from_text(self.value())
        if top_id is None:
            return queryset.none()
        if queryset.model is Category:
            return queryset.filter(Q(pk=top_id) | Q(parent_id=top_id))
        return queryset.filter(Q(category_id=top_id) | Q(category__parent_id=top_id))


class CategoryListFilter(admin.RelatedFieldListFilter):
    """Every category as "一级 / 二级", in one query (the default filter reads each parent)."""

    def field_choices(self, field, request, model_admin):
        categories = Category.objects.select_related("parent").order_by(
            Coalesce("parent__sort_order", "sort_order"), Coalesce("parent_id", "id"), "parent_id", "sort_order", "id"
        )
        return [(c.pk, str(c)) for c in categories]


class CategoryChildInline(admin.TabularInline):
    model = Category
    fk_name = "parent"
    fields = ("name", "sort_order", "is_active")
    extra = 0
    show_change_link = True
    verbose_name = verbose_name_plural = "二级分类"


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "sort_order", "is_active", "product_count")
    list_display_links = ("name",)
    list_editable = ("sort_order", "is_active")
    list_filter = (CategoryLevelFilter, TopCategoryFilter, "is_active")
    search_fields = ("name", "parent__name")
    list_select_related = ("parent",)
    # Shown as a tree: each aisle followed by its shelves, both in their sort order.
    ordering = (
        Coalesce("parent__sort_order", "sort_order").asc(),
        Coalesce("parent_id", "id").asc(),
        F("parent_id").asc(nulls_first=True),
        "sort_order",
        "id",
    )
    fields = ("parent", "name", "sort_order", "is_active")

    def get_queryset(self, request):
        # select_related also serves the autocomplete on products, which prints "一级 / 二级".
        return super().get_queryset(request).select_related("parent").annotate(product_count=Count("products"))

    def get_inlines(self, request, obj):
        return [] if obj is not None and obj.parent_id else [CategoryChildInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("model_name") == "product" and request.GET.get("field_name") == "category":
            queryset = queryset.filter(children__isnull=True)  # products go on shelves, not aisles
        return queryset, may_have_duplicates

    @admin.display(description="商品数", ordering="product_count")
    def product_count(self, obj):
        return obj.product_count


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    change_list_template = "admin/catalog/product/change_list.html"
    list_display = (
        "code", "name", "category", "spec", "unit", "price", "stock_available",
        "storage", "catch_weight", "default_supplier", "is_active", "sort_order",
    )
    list_display_links = ("code", "name")
    list_editable = ("price", "is_active")
    list_filter = (
        TopCategoryFilter, ("category", CategoryListFilter), "storage", "unit", "is_active", "catch_weight",
        "default_supplier",
    )
    # search_key holds full pinyin and initials, so "xr" finds 虾仁.
    search_fields = ("code", "name", "search_key")
    search_help_text = "按编码、名称或拼音首字母（如 xr 找虾仁）搜索"
    list_select_related = ("category__parent", "default_supplier", "stock")
    list_per_page = 100
    autocomplete_fields = ("category", "default_supplier")
    readonly_fields = ("stock_figures", "search_key", "created_at", "updated_at")
    actions = ("put_on_sale", "take_off_sale")
    fieldsets = (
        (None, {"fields": ("code", "name", "category", "spec", "unit", "price", "image")}),
        ("计价与下单", {"fields": ("catch_weight", "nominal_weight", "min_quantity", "step_quantity")}),
        ("储存与来源", {"fields": ("storage", "origin", "default_supplier")}),
        ("上架", {"fields": ("is_active", "sort_order")}),
        ("其他", {"fields": ("stock_figures", "search_key", "created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "image" in form.changed_data:
            product_thumbnail_refresh(product=obj)

    def get_queryset(self, request):
        # Here as well as for the changelist (which skips list_select_related once a queryset has
        # any): saving inline price edits validates every row, and Product.clean reads the category.
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description="可用库存", ordering=F("stock__on_hand") - F("stock__reserved"))
    def stock_available(self, obj):
        return f"{available_quantity(obj).normalize():f}"

    @admin.display(description="库存")
    def stock_figures(self, obj):
        stock = getattr(obj, "stock", None) if obj.pk else None
        if stock is None:
            return "无库存记录"
        return f"在库 {stock.on_hand:f}，已预留 {stock.reserved:f}，可用 {stock.available:f}"

    @admin.action(description="上架所选商品", permissions=["change"])
    def put_on_sale(self, request, queryset):
        count = product_set_active(product_ids=queryset.values_list("pk", flat=True), active=True)
        self.message_user(request, f"已上架 {count} 个商品", messages.SUCCESS)

    @admin.action(description="下架所选商品", permissions=["change"])
    def take_off_sale(self, request, queryset):
        count = product_set_active(product_ids=queryset.values_list("pk", flat=True), active=False)
        self.message_user(request, f"已下架 {count} 个商品", messages.SUCCESS)

    # --- CSV import and export ---

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="%s_%s_import" % info),
            path("export/", self.admin_site.admin_view(self.export_view), name="%s_%s_export" % info),
            *super().get_urls(),
        ]

    def _can_import(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_import": self._can_import(request),
            "can_export": self.has_view_permission(request),
        }
        return super().changelist_view(request, extra_context=extra_context)

    def import_view(self, request):
        if not self._can_import(request):
            raise PermissionDenied
        form = ProductImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            try:
                report = product_import_csv(file=form.cleaned_data["file"])
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                if report.ok:
                    messages.success(
                        request,
                        f"导入成功：共 {report.rows} 行，新增 {report.created} 个，更新 {report.updated} 个，"
                        f"未变化 {report.unchanged} 个",
                    )
                    return redirect("admin:catalog_product_changelist")
                messages.error(request, f"未导入任何数据：{report.error_summary}，请改正后重新上传整个文件")
        errors = report.errors if report else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "导入商品",
            "form": form,
            "report": report,
            "errors": errors[:IMPORT_ERRORS_SHOWN],
            "errors_hidden": max(len(errors) - IMPORT_ERRORS_SHOWN, 0),
            "columns": COLUMNS,
            "max_megabytes": MAX_FILE_BYTES // 1024 // 1024,
            "max_rows": f"{MAX_ROWS:,}",
        }
        return TemplateResponse(request, "admin/catalog/product/import.html", context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = StreamingHttpResponse(product_export_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="products-{timezone.localdate():%Y%m%d}.csv"'
        return response


class CartLineInline(ReadOnlyInline):
    model = CartLine
    fields = ("product", "quantity", "updated_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    """For answering a buyer's question about their cart; carts change only in the shop."""

    list_display = ("id", "visitor", "line_count", "updated_at")
    list_select_related = ("visitor",)
    search_fields = ("visitor__openid", "visitor__nickname", "visitor__phone")
    inlines = (CartLineInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(line_count=Count("lines"))

    @admin.display(description="商品种数", ordering="line_count")
    def line_count(self, obj):
        return obj.line_count

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PriceListEntryInline(admin.TabularInline):
    """A fixed price for a product, or a percentage off a category (its shelves included)."""

    model = PriceListEntry
    extra = 1
    fields = ("product", "price", "category", "percent_off")
    autocomplete_fields = ("product", "category")


class PriceListCustomerInline(ReadOnlyInline):
    """Who buys at this list now (their list in force: given on the customer's page or by a tag)."""

    model = Customer
    fk_name = "price_list"
    fields = ("name", "phone", "district", "rep", "own_price_list")
    readonly_fields = fields
    verbose_name_plural = "按此价目表购买的客户（在客户页面指定，或由标签带来）"


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    """价目表: which price applies is catalog.pricing.list_price_rule (product entry, then the
    nearest category's, then the catalogue price; only while active and within its dates)."""

    list_display = ("name", "is_active", "valid_from", "valid_to", "priority", "entry_count", "customer_count")
    list_filter = ("is_active",)
    search_fields = ("name",)
    fields = ("name", "is_active", "valid_from", "valid_to", "priority", "note")
    inlines = (PriceListEntryInline, PriceListCustomerInline)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            entries_n=Count("entries", distinct=True), customers_n=Count("customers", distinct=True))

    @admin.display(description="条目数", ordering="entries_n")
    def entry_count(self, price_list):
        return price_list.entries_n

    @admin.display(description="客户数", ordering="customers_n")
    def customer_count(self, price_list):
        return price_list.customers_n

