from django.contrib import admin

from .models import Customer, Visitor


class VisitorInline(admin.TabularInline):
    model = Visitor
    fields = ("openid", "nickname", "phone", "last_seen_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_name", "phone", "district", "rep", "last_order_at", "created_at")
    list_filter = ("district", "rep")
    search_fields = ("name", "phone", "address", "contact_name")
    list_select_related = ("rep",)
    autocomplete_fields = ("rep",)
    readonly_fields = ("last_order_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    inlines = (VisitorInline,)
    fieldsets = (
        (None, {"fields": ("name", "contact_name", "phone", "rep")}),
        ("地址", {"fields": ("district", "address", "latitude", "longitude")}),
        ("记录", {"fields": ("last_order_at", "created_at", "updated_at")}),
    )


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    """Visitors are created by WeChat login and bound to a customer at phone authorisation."""

    list_display = ("openid", "nickname", "phone", "customer", "last_seen_at", "created_at")
    list_select_related = ("customer",)
    search_fields = ("openid", "nickname", "phone", "customer__name")
    list_filter = (("customer", admin.EmptyFieldListFilter),)
    fields = ("openid", "unionid", "nickname", "phone", "customer", "last_seen_at", "created_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
