from django.contrib import admin
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html

from .models import Stock, StockMove, Supplier


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_name", "phone", "address", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "contact_name", "phone")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Stock figures change only through logistics services, each with its ledger row, never by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
