"""Back office for campaigns: create and edit a draft (Chinese labels), see how many of the segment
it reaches now, send it once (a confirmation page), and read its results; the recipients (who was
reached, skipped and why — customers without a rep included) and the monthly cap's setting."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from core.errors import ApplicationError
from crm.admin import SingletonAdmin, funnel_text
from crm.segments import segment_funnel

from .models import Campaign, CampaignRecipient, CampaignSettings, MonthlyContact
from .results import campaign_results
from .rules import link_problem
from .services import campaign_check, campaign_send_start

RESULT_FIELDS = ("recipients", "sent", "pending", "skipped_cap", "no_consent", "no_rep", "failed", "opened", "opens",
                 "ordered", "gmv", "coupons_used")
RESULT_LABELS = {"recipients": "客户数", "sent": "已送达", "pending": "待发送", "skipped_cap": "未发：超出每月上限",
                 "no_consent": "未发：未订阅", "no_rep": "未发：没有业务员", "failed": "发送失败/结果未知",
                 "opened": "打开链接（人）",
                 "opens": "打开次数", "ordered": "7 天内下单", "gmv": "7 天内成交额(元，扣退款)",
                 "coupons_used": "优惠券已使用"}


@admin.register(CampaignSettings)
class CampaignSettingsAdmin(SingletonAdmin):
    list_display = ("__str__", "monthly_cap")


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ("name", "channel", "segment", "title", "text", "link", "coupon_template")
        widgets = {"text": forms.Textarea(attrs={"rows": 4, "cols": 60})}

    def clean_link(self):
        link = (self.cleaned_data.get("link") or "").strip()
        problem = link_problem(link)
        if problem:
            raise forms.ValidationError(problem)
        return link


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "channel", "segment", "status", "send_requested_at", "r_recipients", "r_sent",
                    "r_opened", "r_orders", "r_gmv", "r_coupons")
    list_filter = ("status", "channel")
    list_select_related = ("segment",)
    search_fields = ("name",)
    readonly_fields = ("audience", "send_button", "results_table")

    def get_fieldsets(self, request, obj=None):
        message = (None, {"fields": ("name", "channel", "segment", "audience", "title", "text", "link",
                                     "coupon_template")})
        if obj is None:
            return (message,)
        if obj.status == Campaign.Status.DRAFT:
            return (message, ("发送", {"fields": ("send_button",)}))
        return (("效果", {"fields": ("results_table",)}), message)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:  # sent: the record of what was sent
            return ("name", "channel", "segment", "title", "text", "link", "coupon_template", "status",
                    "segment_count", "send_requested_at", "sent_at", "sent_by", "audience", "results_table")
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    # --- figures ------------------------------------------------------------------------------

    def get_changelist_instance(self, request):
        """The page's campaigns get their results in one call (four queries for the whole page)."""
        changelist = super().get_changelist_instance(request)
        rows = changelist.result_list
        results = {row["id"]: row for row in campaign_results([campaign.pk for campaign in rows])}
        for campaign in rows:
            campaign.results = results.get(campaign.pk)
        return changelist

    def _figure(self, obj, key):
        results = getattr(obj, "results", None)
        return "–" if results is None else results[key]

    @admin.display(description="客户数")
    def r_recipients(self, obj):
        return self._figure(obj, "recipients")

    @admin.display(description="已送达")
    def r_sent(self, obj):
        return self._figure(obj, "sent")

    @admin.display(description="打开")
    def r_opened(self, obj):
        return self._figure(obj, "opened")

    @admin.display(description="7天下单")
    def r_orders(self, obj):
        return self._figure(obj, "ordered")

    @admin.display(description="7天成交额")
    def r_gmv(self, obj):
        return self._figure(obj, "gmv")

    @admin.display(description="用券")
    def r_coupons(self, obj):
        return self._figure(obj, "coupons_used")

    @admin.display(description="人数")
    def audience(self, obj):
        if obj is None or not obj.pk:
            return "保存后显示分群人数"
        if obj.status != Campaign.Status.DRAFT:
            return f"发送时分群 {obj.segment_count} 位客户"
        funnel = segment_funnel(obj.segment)
        return format_html('<strong data-testid="campaign-audience">{}</strong>（发送时重新计算）',
                           funnel_text(funnel, obj.segment.name))

    @admin.display(description="发送")
    def send_button(self, obj):
        if obj is None or not obj.pk or obj.status != Campaign.Status.DRAFT:
            return "–"
        return format_html('<a class="button" href="{}" data-testid="campaign-send-link">发送…</a>',
                           reverse("admin:campaigns_campaign_send", args=[obj.pk]))

    @admin.display(description="效果")
    def results_table(self, obj):
        results = campaign_results([obj.pk]) if obj and obj.pk else []
        if not results:
            return "–"
        row = results[0]
        cells = "".join(format_html('<tr><th>{}</th><td data-testid="result-{}">{}</td></tr>', RESULT_LABELS[key], key,
                                    row[key]) for key in RESULT_FIELDS)
        recipients = reverse("admin:campaigns_campaignrecipient_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html('<table data-testid="campaign-results">{}</table><p><a href="{}">查看每位客户</a>'
                           '（未发送的原因、没有业务员的客户）</p>', format_html(cells), recipients)

    # --- sending ------------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("<path:object_id>/send/", self.admin_site.admin_view(self.send_view), name="%s_%s_send" % info),
                *super().get_urls()]

    def send_view(self, request, object_id):
        """GET: what will be sent, to how many now, and the cap; POST: send (once)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404("活动不存在")
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if campaign.status != Campaign.Status.DRAFT:
            self.message_user(request, "该活动已发送，不能再次发送", messages.WARNING)
            return redirect(change_url)
        problem = ""
        if request.method == "POST":
            try:
                campaign = campaign_send_start(campaign_id=campaign.pk, user=request.user)
            except ApplicationError as error:
                problem = error.message
            else:
                self.message_user(request, f"已开始发送「{campaign.name}」：分群 {campaign.segment_count} 位客户",
                                  messages.SUCCESS)
                return redirect(change_url)
        else:
            try:
                campaign_check(campaign)
            except ApplicationError as error:
                problem = error.message
        context = {**self.admin_site.each_context(request), "opts": self.opts, "campaign": campaign,
                   "title": f"发送活动：{campaign.name}", "funnel": funnel_text(segment_funnel(campaign.segment),
                                                                          campaign.segment.name),
                   "cap": CampaignSettings.current().monthly_cap, "problem": problem, "change_url": change_url}
        return TemplateResponse(request, "admin/campaigns/campaign/send.html", context)


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "customer", "rep", "status", "sent_at", "first_opened_at", "open_count")
    list_filter = ("status", "campaign")
    list_select_related = ("campaign", "customer", "rep")
    search_fields = ("customer__name", "customer__phone")
    raw_id_fields = ("customer", "notification")


@admin.register(MonthlyContact)
class MonthlyContactAdmin(ReadOnlyAdmin):
    list_display = ("customer", "month", "count")
    list_filter = ("month",)
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__phone")
    raw_id_fields = ("customer",)
