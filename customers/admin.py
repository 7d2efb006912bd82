import json

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone

from core.admin import ReadOnlyAdmin, ReadOnlyInline
from crm.admin import AutoCustomerTagInline, ManualCustomerTagInline
from core.errors import Conflict

from .churn import churn_status_counts, churn_sweep
from .models import ChurnEvent, ChurnSettings, ChurnSnapshot, Customer, Visitor


class VisitorInline(ReadOnlyInline):
    model = Visitor
    fields = ("openid", "nickname", "phone", "last_seen_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_name", "phone", "district", "rep", "price_list", "status", "last_order_at",
                    "created_at")
    list_filter = ("status", "district", "rep", "price_list", "own_price_list")
    search_fields = ("name", "phone", "address", "contact_name")
    list_select_related = ("rep", "price_list")
    autocomplete_fields = ("rep", "own_price_list")
    readonly_fields = ("price_list", "last_order_at", "first_order_at", "paid_order_count", "usual_interval", "status",
                       "status_changed_at", "acquired_by", "acquired_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    inlines = (ManualCustomerTagInline, AutoCustomerTagInline, VisitorInline)
    actions = ("handover_to_another_rep",)
    fieldsets = (
        (None, {"fields": ("name", "contact_name", "phone", "rep", "own_price_list", "price_list")}),
        ("地址", {"fields": ("district", "address", "latitude", "longitude")}),
        ("下单节奏与流失", {"fields": ("status", "status_changed_at", "last_order_at", "first_order_at",
                                   "paid_order_count", "usual_interval")}),
        ("记录", {"fields": ("acquired_by", "acquired_at", "created_at", "updated_at")}),
    )


    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from catalog.price_lists import refresh_on_commit

        refresh_on_commit([form.instance.pk])  # its tags may bring a price list (catalog.price_lists)

    @admin.action(description="移交给其他业务员", permissions=["change"])
    def handover_to_another_rep(self, request, queryset):
        """Selected customers of one rep → the rep's handover form with them pre-selected."""
        rep_ids = set(queryset.values_list("rep_id", flat=True))
        if len(rep_ids) != 1 or None in rep_ids:
            self.message_user(request, "请选择同一位业务员名下的客户", messages.WARNING)
            return None
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return redirect(reverse("admin:reps_rep_handover", args=[rep_ids.pop()]) + f"?customers={ids}")


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


@admin.register(ChurnSettings)
class ChurnSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "churn_days", "at_risk_multiplier", "at_risk_min_orders", "at_risk_min_silence_days")

    def has_add_permission(self, request):
        return not ChurnSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChurnEvent)
class ChurnEventAdmin(ReadOnlyAdmin):
    list_display = ("night", "kind", "customer", "rep", "last_order_at")
    list_filter = ("kind", "night", "rep")
    search_fields = ("customer__name", "customer__phone")
    list_select_related = ("customer", "rep")
    date_hierarchy = "night"


@admin.register(ChurnSnapshot)
class ChurnSnapshotAdmin(admin.ModelAdmin):
    """The churn dashboard: counts after each nightly sweep, as a chart and a table."""

    change_list_template = "admin/customers/churnsnapshot/dashboard.html"
    list_display = ("night", "active", "at_risk", "churned", "new_at_risk", "new_churned", "reactivated")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("run/", self.admin_site.admin_view(self.run_sweep), name="customers_churn_run")] + super().get_urls()

    def run_sweep(self, request):
        if request.method != "POST" or not request.user.has_perm("customers.change_churnsettings"):
            return redirect(reverse("admin:customers_churnsnapshot_changelist"))
        try:
            result = churn_sweep()
        except Conflict as error:
            self.message_user(request, error.message, messages.WARNING)
        else:
            self.message_user(request, f"已扫描：新增流失 {result.new_churned}，新增预警 {result.new_at_risk}")
        return redirect(reverse("admin:customers_churnsnapshot_changelist"))

    def changelist_view(self, request, extra_context=None):
        rows = list(ChurnSnapshot.objects.order_by("-night")[:90])[::-1]
        chart = {
            "labels": [row.night.strftime("%m-%d") for row in rows],
            "active": [row.active for row in rows], "at_risk": [row.at_risk for row in rows],
            "churned": [row.churned for row in rows], "reactivated": [row.reactivated for row in rows],
        }
        extra = {"chart_json": json.dumps(chart), "today": timezone.localdate(),
                 "rules": ChurnSettings.current(), "now_counts": churn_status_counts()}
        return super().changelist_view(request, extra_context={**(extra_context or {}), **extra})
