"""Back office for after-sales: the queue (oldest first), each request with its lines, photos and
history, the decision page (approve in full or in part, reject, ask for photos), goodwill refunds
on any paid order, and the window settings."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin import (
    PhotoPreviewInline,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SaveOnlyWhenEditableMixin,
    SettingsRowAdmin,
    object_for_action,
    waited_text,
)
from core.errors import ApplicationError

from .decisions import APPROVE, DECISIONS, MORE_INFO, PARTIAL, REJECT, Decision, goodwill_refund, request_decide
from .models import AfterSalesDecision, AfterSalesLine, AfterSalesPhoto, AfterSalesRequest, AfterSalesSettings
from .selectors import queue

Goods = AfterSalesDecision.Goods


@admin.register(AfterSalesSettings)
class AfterSalesSettingsAdmin(SettingsRowAdmin):
    list_display = ["__str__", "frozen_window_hours", "chilled_window_hours", "ambient_window_hours"]


class LineInline(ReadOnlyInline):
    model = AfterSalesLine
    fields = ["order_line", "quantity", "weight", "claimed_amount", "approved_amount", "returned_quantity", "is_open"]
    readonly_fields = fields


class PhotoInline(PhotoPreviewInline):
    model = AfterSalesPhoto


class DecisionInline(ReadOnlyInline):
    model = AfterSalesDecision
    fields = ["created_at", "kind", "actor", "amount", "refund", "goods", "message"]
    readonly_fields = fields
    fk_name = "request"


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(label="处理方式", choices=list(DECISIONS.items()), widget=forms.RadioSelect)
    amount = forms.DecimalField(label="部分同意：金额(元)", required=False, min_value=0, max_digits=12,
                                decimal_places=2, help_text="按金额部分同意时填写；也可在下方按数量/重量填写")
    goods = forms.ChoiceField(label="货物处理", required=False, widget=forms.RadioSelect,
                              choices=[(Goods.RETURNED, "已退回，入库"), (Goods.WRITTEN_OFF, "未退回/不可售，报损")])
    message = forms.CharField(label="给客户的说明", required=False, max_length=300, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="拒绝或要求补充照片时必填，客户可见")

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            unit = "斤" if line.weight else line.order_line.unit
            self.fields[f"qty_{line.pk}"] = forms.DecimalField(
                label=f"{line.order_line.product_name}：同意{'重量' if line.weight else '数量'}({unit})",
                required=False, min_value=0, max_digits=10, decimal_places=2,
                help_text=f"申请 {line.claim_text}，¥{line.claimed_amount}（部分同意时按数量/重量计算金额）")

    def decision(self) -> Decision:
        data = self.cleaned_data
        quantities = {line.pk: data.get(f"qty_{line.pk}") for line in self.lines
                      if data.get(f"qty_{line.pk}") is not None} if data["kind"] == PARTIAL else {}
        return Decision(kind=data["kind"], message=data.get("message") or "", amount=data.get("amount"),
                        quantities=quantities, goods=data.get("goods") or "")


class GoodwillForm(forms.Form):
    amount = forms.DecimalField(label="补偿金额(元)", min_value=0, max_digits=12, decimal_places=2)
    message = forms.CharField(label="补偿原因(客户可见)", max_length=300, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(AfterSalesRequest)
class AfterSalesRequestAdmin(SaveOnlyWhenEditableMixin, admin.ModelAdmin):
    list_display = ["id", "order_number", "restaurant", "reason", "status", "claimed_amount", "refunded_amount",
                    "created_at", "age"]
    list_filter = ["status", "reason", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=order__number", "customer__name"]
    ordering = ["created_at", "id"]  # the queue: oldest first
    show_full_result_count = False
    inlines = [LineInline, PhotoInline, DecisionInline]
    fields = ["order_link", "customer", "reason", "note", "status", "claimed_amount", "refunded_amount",
              "created_at", "decided_at", "decide_link"]
    readonly_fields = fields

    def get_queryset(self, request):
        return queue(super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="订单", ordering="order__number")
    def order_number(self, obj):
        return obj.order.number

    @admin.display(description="餐厅")
    def restaurant(self, obj):
        return obj.customer.name

    @admin.display(description="等待")
    def age(self, obj):
        return waited_text(obj.created_at)

    @admin.display(description="订单")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    @admin.display(description="处理")
    def decide_link(self, obj):
        if not obj.is_open:
            return "已处理"
        return format_html('<a class="button" href="{}" data-testid="decide-link">处理此申请</a>',
                           reverse("admin:aftersales_aftersalesrequest_decide", args=[obj.pk]))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/decide/", view(self.decide_view), name="%s_%s_decide" % info),
            path("goodwill/<uuid:order_id>/", view(self.goodwill_view), name="%s_%s_goodwill" % info),
            *super().get_urls(),
        ]

    def _page(self, request, template: str, title: str, **context):
        return TemplateResponse(request, template, {**self.admin_site.each_context(request), "opts": self.opts,
                                                    "title": title, **context})

    def decide_view(self, request, object_id):
        obj = object_for_action(self, request, object_id, missing="售后申请不存在")
        lines = list(obj.lines.select_related("order_line").order_by("id"))
        form = DecisionForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            try:
                row = request_decide(request_id=obj.pk, user=request.user, decision=form.decision())
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                amount = f"，退款 ¥{row.amount}" if row.amount else ""
                self.message_user(request, f"售后 #{obj.pk}：{row.get_kind_display()}{amount}", messages.SUCCESS)
                return redirect("admin:aftersales_aftersalesrequest_change", obj.pk)
        photos = format_html_join("", '<a href="{0}" target="_blank"><img src="{0}" style="max-height:120px;'
                                  'margin:4px"></a>', ((p.image.url,) for p in obj.photos.all()))
        return self._page(request, "admin/aftersales/decide.html", f"处理售后 #{obj.pk}", form=form, obj=obj,
                          lines=lines, photos=photos, order=obj.order,
                          refunds=list(obj.order.refunds.order_by("created_at")),
                          choices={"approve": APPROVE, "partial": PARTIAL, "reject": REJECT, "more_info": MORE_INFO})

    def goodwill_view(self, request, order_id):
        from orders.models import Order

        if not self.has_change_permission(request):
            raise PermissionDenied
        order = Order.objects.select_related("payment").filter(pk=order_id).first()
        if order is None:
            raise Http404("订单不存在")
        form = GoodwillForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                row = goodwill_refund(order_id=order.pk, user=request.user, amount=form.cleaned_data["amount"],
                                      message=form.cleaned_data["message"])
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"订单 {order.number}：补偿退款 ¥{row.amount}", messages.SUCCESS)
                return redirect("admin:orders_order_change", order.pk)
        return self._page(request, "admin/aftersales/goodwill.html", f"补偿退款：订单 {order.number}", form=form,
                          order=order, refunds=list(order.refunds.order_by("created_at")))


@admin.register(AfterSalesDecision)
class AfterSalesDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "request", "kind", "actor", "amount", "goods", "message"]
    list_filter = ["kind", "goods"]
    search_fields = ["=order__number", "actor"]
    list_select_related = ["order", "request"]
