"""Back office for complaints: the queue (overdue first, then oldest), each complaint with its
photos and history, the reply page (reply, or reply and resolve), owner changes, the rules and the
escalation list."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import (
    PhotoPreviewInline,
    ReadOnlyInline,
    SaveOnlyWhenEditableMixin,
    SettingsRowAdmin,
    object_for_action,
    waited_text,
)
from core.errors import ApplicationError

from .models import Complaint, ComplaintEvent, ComplaintPhoto, ComplaintSettings, ComplaintStaff
from .selectors import queue
from .services import complaint_assign, complaint_reply


@admin.register(ComplaintSettings)
class ComplaintSettingsAdmin(SettingsRowAdmin):
    list_display = ["__str__", "first_response_hours", "resolution_hours", "business_opens", "business_closes",
                    "escalation_repeat_minutes", "default_owner"]
    fieldsets = [
        ("时限", {"fields": ["first_response_hours", "resolution_hours"]}),
        ("工作时间(上海时间)", {"fields": ["business_opens", "business_closes", "monday", "tuesday", "wednesday",
                                        "thursday", "friday", "saturday", "sunday"]}),
        ("分配与升级", {"fields": ["default_owner", "escalation_repeat_minutes"],
                    "description": "升级名单与轮流负责的员工在「投诉处理人员」中设置"}),
    ]
    raw_id_fields = ["default_owner"]


@admin.register(ComplaintStaff)
class ComplaintStaffAdmin(admin.ModelAdmin):
    list_display = ["user", "takes_complaints", "escalations", "wecom_user_id", "is_active"]
    list_filter = ["takes_complaints", "escalations", "is_active"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


class OverdueFilter(admin.SimpleListFilter):
    title = "是否超时"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "已超时"), ("no", "未超时")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(pk__in=Complaint.objects.overdue(now).values("pk"))
        if self.value() == "no":
            return queryset.exclude(pk__in=Complaint.objects.overdue(now).values("pk"))
        return queryset


class PhotoInline(PhotoPreviewInline):
    model = ComplaintPhoto


class EventInline(ReadOnlyInline):
    model = ComplaintEvent
    fields = ["created_at", "kind", "actor", "round", "message"]
    readonly_fields = fields


class ReplyForm(forms.Form):
    message = forms.CharField(label="回复(客户可见)", max_length=500, widget=forms.Textarea(attrs={"rows": 4}))
    resolve = forms.BooleanField(label="同时标记为已解决", required=False)


class OwnerForm(forms.ModelForm):
    class Meta:
        model = Complaint
        fields = ["owner"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = get_user_model().objects.filter(is_staff=True, is_active=True)


@admin.register(Complaint)
class ComplaintAdmin(SaveOnlyWhenEditableMixin, admin.ModelAdmin):
    form = OwnerForm
    list_display = ["id", "overdue_badge", "category", "restaurant", "order_number", "status", "owner",
                    "created_at", "age", "first_response_due", "escalation_round"]
    list_display_links = ["id", "category"]
    list_filter = [OverdueFilter, "status", "category", "is_safety", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "=order__number", "customer__name"]
    show_full_result_count = False
    inlines = [PhotoInline, EventInline]
    fields = ["reply_link", "customer", "order", "category", "is_safety", "text", "status", "owner", "driver", "rep",
              "created_at", "first_response_due", "first_response_at", "resolution_due", "resolved_at",
              "escalation_round", "last_escalated_at", "next_escalation_at"]
    readonly_fields = [name for name in fields if name != "owner"]

    def get_queryset(self, request):
        # Not super(): it orders by get_ordering() before the queue's annotations exist.
        return queue(self.model._default_manager.get_queryset())

    def get_ordering(self, request):
        # selectors.queue's order (its annotations; admin's ordering checks know only fields)
        return ["-is_overdue", "status_rank", "-is_safety", "created_at", "id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if "owner" in form.changed_data:  # the only editable field: through the service, with its audit row
            complaint_assign(complaint_id=obj.pk, user=request.user, owner_id=obj.owner_id)

    @admin.display(description="超时", ordering="-is_overdue")
    def overdue_badge(self, obj):
        if getattr(obj, "is_overdue", 0):
            return format_html('<strong style="color:#c00" data-testid="overdue">{}</strong>', "已超时")
        return ""

    @admin.display(description="餐厅")
    def restaurant(self, obj):
        return obj.customer.name

    @admin.display(description="订单")
    def order_number(self, obj):
        return obj.order.number if obj.order_id else "—"

    @admin.display(description="等待")
    def age(self, obj):
        return waited_text(obj.created_at, obj.resolved_at)

    @admin.display(description="回复")
    def reply_link(self, obj):
        if obj.status == Complaint.Status.RESOLVED:
            return "已解决"
        return format_html('<a class="button" href="{}" data-testid="reply-link">回复此投诉</a>',
                           reverse("admin:complaints_complaint_reply", args=[obj.pk]))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("<path:object_id>/reply/", self.admin_site.admin_view(self.reply_view), name="%s_%s_reply" % info),
                *super().get_urls()]

    def reply_view(self, request, object_id):
        obj = object_for_action(self, request, object_id, missing="投诉不存在")
        form = ReplyForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                complaint_reply(complaint_id=obj.pk, user=request.user, message=form.cleaned_data["message"],
                                resolve=form.cleaned_data["resolve"])
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"投诉 #{obj.pk} 已回复，客户将收到通知", messages.SUCCESS)
                return redirect("admin:complaints_complaint_change", obj.pk)
        events = list(obj.events.order_by("created_at", "id"))
        return TemplateResponse(request, "admin/complaints/reply.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": f"回复投诉 #{obj.pk}",
            "form": form, "obj": obj, "events": events, "photos": list(obj.photos.all())})
