"""Back office for coupons: templates (the terms), issuing one to a segment, a customer or a list
of customers (发放优惠券, per template), and the issued coupons, issues and redemptions, read-only."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from crm.models import Segment
from core.errors import ApplicationError

from .models import Coupon, CouponIssue, CouponRedemption, CouponTemplate
from .services import coupons_issue, coupons_issue_to_segment, customers_from_phones


class CouponTemplateForm(forms.ModelForm):
    class Meta:
        model = CouponTemplate
        fields = ("name", "kind", "amount_off", "min_spend", "percent_off", "max_discount", "valid_from", "valid_to",
                  "per_customer_limit", "categories", "is_active", "note")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == CouponTemplate.Kind.AMOUNT:
            if not data.get("amount_off"):
                self.add_error("amount_off", "满减券须填写减免金额")
            data["percent_off"] = data["max_discount"] = None
        elif kind == CouponTemplate.Kind.PERCENT:
            if not data.get("percent_off"):
                self.add_error("percent_off", "折扣券须填写折扣百分比")
            if not data.get("max_discount"):
                self.add_error("max_discount", "折扣券须填写最多减多少")
            data["amount_off"] = None
        start, end = data.get("valid_from"), data.get("valid_to")
        if start and end and end < start:
            self.add_error("valid_to", "失效日期不能早于生效日期")
        return data


class IssueForm(forms.Form):
    """To a saved segment (crm), or to the customers of a list of phones: one of the two."""

    segment = forms.ModelChoiceField(label="客户分群", queryset=Segment.objects.order_by("name"), required=False,
                                     help_text="发给分群中现在的每一位客户（发放时重新计算）")
    phones = forms.CharField(label="或客户手机号", widget=forms.Textarea(attrs={"rows": 6, "cols": 40}), required=False,
                             help_text="每行一个（或用逗号分隔）；发给一位客户就填一个号码")

    def clean(self):
        data = super().clean()
        if bool(data.get("segment")) == bool((data.get("phones") or "").strip()):
            raise forms.ValidationError("请选择一个客户分群，或填写客户手机号（二选一）")
        return data


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    """优惠券模板. Whether a coupon can be used, and its discount, is coupons.rules."""

    form = CouponTemplateForm
    list_display = ("name", "kind", "terms_text", "valid_from", "valid_to", "per_customer_limit", "is_active",
                    "issued", "issue_link")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    filter_horizontal = ("categories",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(coupons_n=Count("coupons"))

    @admin.display(description="优惠")
    def terms_text(self, template):
        return template.terms

    @admin.display(description="已发", ordering="coupons_n")
    def issued(self, template):
        return template.coupons_n

    @admin.display(description="发放")
    def issue_link(self, template):
        return format_html('<a href="{}" data-testid="issue-link">发放…</a>',
                           reverse("admin:coupons_coupontemplate_issue", args=[template.pk]))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("<path:object_id>/issue/", self.admin_site.admin_view(self.issue_view),
                     name="%s_%s_issue" % info), *super().get_urls()]

    def issue_view(self, request, object_id):
        if not self.has_change_permission(request) or not request.user.has_perm("coupons.add_coupon"):
            raise PermissionDenied
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404("优惠券模板不存在")
        form = IssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data, who = form.cleaned_data, request.user.get_username()
            try:
                if data["segment"]:
                    issue = coupons_issue_to_segment(template_id=template.pk, segment_id=data["segment"].pk,
                                                     issued_by=who)
                else:
                    customer_ids = customers_from_phones(data["phones"])
                    audience = (data["phones"].strip().splitlines()[0] if len(customer_ids) == 1
                                else f"名单 {len(customer_ids)} 位客户")
                    issue = coupons_issue(template_id=template.pk, customer_ids=customer_ids, audience=audience,
                                          issued_by=who)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                skipped = f"，{issue.skipped_count} 位已达每人限领 {template.per_customer_limit} 张未发" \
                    if issue.skipped_count else ""
                self.message_user(request, f"已发放「{template.name}」{issue.issued_count} 张{skipped}",
                                  messages.SUCCESS)
                return redirect("admin:coupons_couponissue_change", issue.pk)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "template": template,
                   "title": f"发放优惠券：{template.name}", "form": form}
        return TemplateResponse(request, "admin/coupons/coupontemplate/issue.html", context)


@admin.register(CouponIssue)
class CouponIssueAdmin(ReadOnlyAdmin):
    list_display = ("template", "audience", "issued_count", "skipped_count", "issued_by", "created_at")
    list_select_related = ("template",)
    list_filter = ("template",)


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = ("id", "template", "customer", "is_used", "created_at")
    list_select_related = ("template", "customer")
    list_filter = ("template",)
    search_fields = ("customer__name", "customer__phone")
    raw_id_fields = ("customer",)

    def get_queryset(self, request):
        held = CouponRedemption.objects.filter(coupon=OuterRef("pk"), released_at__isnull=True)
        return super().get_queryset(request).annotate(held=Exists(held))

    @admin.display(description="已使用", boolean=True, ordering="held")
    def is_used(self, coupon):
        return coupon.held


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdmin):
    list_display = ("coupon", "order", "amount", "created_at", "released_at", "release_reason")
    list_select_related = ("coupon__template", "order")
    raw_id_fields = ("coupon", "order")
