from django.contrib import admin, messages

from core.admin import SaveOnlyWhenEditableMixin

from .models import Notification, SubscribeConsent
from .services import notification_retry


@admin.register(Notification)
class NotificationAdmin(SaveOnlyWhenEditableMixin, admin.ModelAdmin):
    list_display = ("created_at", "title", "recipient_kind", "recipient_id", "channel", "status", "attempts",
                    "sent_at", "last_error")
    list_filter = ("status", "channel", "recipient_kind", "template")
    search_fields = ("event_key", "title", "recipient_id", "address")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["retry"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="重新发送（仅限结果未知或失败的消息，请先确认对方未收到）", permissions=["change"])
    def retry(self, request, queryset):
        count = sum(notification_retry(notification_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"已重新排队 {count} 条", messages.SUCCESS)


@admin.register(SubscribeConsent)
class SubscribeConsentAdmin(admin.ModelAdmin):
    """Read only: only the WeChat user's own answers (wx.requestSubscribeMessage) grant acceptances."""

    list_display = ("openid", "template", "available", "accepted_total", "sent_total", "last_result",
                    "last_result_at")
    list_filter = ("template", "last_result")
    search_fields = ("openid",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in SubscribeConsent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
