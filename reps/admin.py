from django.contrib import admin
from django.db.models import Count

from .models import Rep


@admin.register(Rep)
class RepAdmin(admin.ModelAdmin):
    list_display = ("name", "phone", "key", "territory", "is_active", "customer_count")
    list_filter = ("is_active",)
    search_fields = ("name", "phone", "key")
    autocomplete_fields = ("user",)
    fields = ("name", "phone", "territory", "is_active", "user", "key", "created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_count=Count("customers"))

    def get_readonly_fields(self, request, obj=None):
        # The key is printed in the rep's QR codes; changing it would orphan every code in use.
        if obj is not None:
            return ("key", "created_at", "updated_at")
        return ("created_at", "updated_at")

    @admin.display(description="客户数", ordering="customer_count")
    def customer_count(self, obj):
        return obj.customer_count
