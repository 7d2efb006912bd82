from django.contrib import admin

from .models import UsualSettings


@admin.register(UsualSettings)
class UsualSettingsAdmin(admin.ModelAdmin):
    """常购设置: the window 我的常购 counts over (one row)."""

    list_display = ["__str__", "window_days", "max_items"]
    fields = ["window_days", "max_items"]

    def has_add_permission(self, request):
        return False  # the one row is made on first use (and by the list page): no query in the sidebar

    def changelist_view(self, request, extra_context=None):
        UsualSettings.current()
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False
