from django.contrib import admin
from django.db.models import Exists, OuterRef

from core.admin import ReadOnlyAdmin
from orders.models import Order, OrderLine

from .models import CutoffReminder, LostItemAlert, ReminderOptOut, UsualSettings


@admin.register(UsualSettings)
class UsualSettingsAdmin(admin.ModelAdmin):
    """常购设置: the window 我的常购 counts over (one row), the lost-item rule, the reminder."""

    list_display = ["__str__", "window_days", "max_items", "lost_min_times", "lost_multiplier",
                    "lost_min_silence_days", "reminder_lead_minutes"]
    fieldsets = [
        ("我的常购", {"fields": ["window_days", "max_items"]}),
        ("断购提醒（每晚，提醒业务员）", {"fields": ["lost_min_times", "lost_multiplier", "lost_min_silence_days"]}),
        ("截单提醒（订阅消息，提醒客户）", {"fields": ["reminder_lead_minutes", "reminder_weeks", "reminder_min_weeks"]}),
    ]

    def has_add_permission(self, request):
        return False  # the one row is made on first use (and by the list page): no query in the sidebar

    def changelist_view(self, request, extra_context=None):
        UsualSettings.current()
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LostItemAlert)
class LostItemAlertAdmin(ReadOnlyAdmin):
    """断购提醒: what the nightly sweep found, newest first; whether it was bought again since."""

    list_display = ("night", "customer", "product", "rep", "times", "usual_interval", "last_bought_at",
                    "bought_again")
    list_filter = ("night", "rep")
    search_fields = ("customer__name", "customer__phone", "product__name", "product__code")
    list_select_related = ("customer", "product", "rep")
    date_hierarchy = "night"
    show_full_result_count = False

    def get_queryset(self, request):
        since = OrderLine.objects.filter(
            order__customer_id=OuterRef("customer_id"), product_id=OuterRef("product_id"),
            order__paid_at__gt=OuterRef("last_bought_at")).exclude(order__status=Order.Status.CANCELLED)
        return super().get_queryset(request).annotate(bought_again_flag=Exists(since))

    @admin.display(description="已恢复购买", boolean=True)
    def bought_again(self, obj):
        return obj.bought_again_flag


@admin.register(CutoffReminder)
class CutoffReminderAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer", "delivery_date", "sent_on")
    list_filter = ("delivery_date",)
    search_fields = ("customer__name", "customer__phone")
    list_select_related = ("customer",)
    show_full_result_count = False


@admin.register(ReminderOptOut)
class ReminderOptOutAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer")
    search_fields = ("customer__name", "customer__phone")
    list_select_related = ("customer",)
