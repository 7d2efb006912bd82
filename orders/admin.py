"""Orders in admin: staff see and follow orders, but can never create one or mark one paid.

Orders are born only at checkout and paid only by WeChat Pay; status changes go through
services (the transition map and its audit trail), never through a form field.
"""

import csv

from django.contrib import admin, messages
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, ReadOnlyInline, SaveOnlyWhenEditableMixin
from core.csv_safe import csv_text
from core.errors import ApplicationError

from .models import Order, OrderEvent, OrderLine, OrderSettings, Payment, PaymentNotification, Refund
from .services import order_cancel_by_customer


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["product_code", "product_name", "spec", "unit", "unit_price", "list_price", "price_list_name", "quantity",
              "amount", "discount", "catch_weight"]
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    """The timeline in words: status labels and who acted, never the stored codes."""

    model = OrderEvent
    fields = ["created_at", "transition", "actor_name", "note"]
    readonly_fields = fields

    @admin.display(description="状态变化")
    def transition(self, event):
        return event.transition_label

    @admin.display(description="操作方")
    def actor_name(self, event):
        return event.actor_label


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["out_trade_no", "amount_fen", "status", "transaction_id", "payer_openid", "succeeded_at"]
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ["out_refund_no", "amount", "reason", "status", "refund_id", "succeeded_at", "last_error"]
    readonly_fields = fields


class _Echo:
    def write(self, value):
        return value


# Text columns go through csv_text (formula injection); amounts and times are ours and stay bare.
EXPORT_COLUMNS = [
    ("订单号", lambda o: csv_text(o.number)), ("状态", lambda o: o.get_status_display()),
    ("下单时间", lambda o: timezone.localtime(o.created_at).strftime("%Y-%m-%d %H:%M:%S")),
    ("付款时间", lambda o: timezone.localtime(o.paid_at).strftime("%Y-%m-%d %H:%M:%S") if o.paid_at else ""),
    ("送达日期", lambda o: o.delivery_date.isoformat()), ("餐厅", lambda o: csv_text(o.restaurant_name)),
    ("收货人", lambda o: csv_text(o.contact_name)), ("电话", lambda o: csv_text(o.phone)),
    ("区", lambda o: csv_text(o.district)), ("地址", lambda o: csv_text(o.address)),
    ("业务员", lambda o: csv_text(o.rep.name) if o.rep_id else ""),
    ("商品金额", lambda o: o.subtotal), ("配送费", lambda o: o.delivery_fee), ("优惠", lambda o: o.discount),
    ("应付金额", lambda o: o.total),
]


@admin.register(Order)
class OrderAdmin(SaveOnlyWhenEditableMixin, admin.ModelAdmin):
    list_display = ["number", "restaurant_name", "phone", "status", "total", "delivery_date", "district", "rep",
                    "created_at", "paid_at"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter), "delivery_date", "rep", "district"]
    search_fields = ["=number", "phone", "restaurant_name", "customer__name"]
    list_select_related = ["rep"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False  # counting every order on each page load is the slow part at 100k/day
    inlines = [OrderLineInline, PaymentInline, RefundInline, OrderEventInline]
    actions = ["export_csv", "cancel_unpaid"]
    fieldsets = [
        (None, {"fields": ["number", "status", "customer", "visitor", "rep", "delivery_date"]}),
        ("金额", {"fields": ["subtotal", "delivery_fee", "discount", "total"]}),
        ("收货信息", {"fields": ["restaurant_name", "contact_name", "phone", "address", "district", "latitude",
                              "longitude", "note"]}),
        ("时间", {"fields": ["created_at", "expires_at", "paid_at", "cancelled_at", "cancel_reason"]}),
        ("售后与退款", {"fields": ["aftersales"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Order._meta.fields] + ["created_at", "aftersales"]

    @admin.display(description="售后")
    def aftersales(self, obj):
        requests = reverse("admin:aftersales_aftersalesrequest_changelist") + f"?q={obj.number}"
        goodwill = reverse("admin:aftersales_aftersalesrequest_goodwill", args=[obj.pk])
        return format_html('<a href="{}">售后申请</a> · <a href="{}" data-testid="goodwill-link">补偿退款</a>'
                           '（每笔退款见下方「退款」）', requests, goodwill)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="导出所选订单 (CSV)", permissions=["view"])
    def export_csv(self, request, queryset):
        writer = csv.writer(_Echo())

        def rows():
            yield "\ufeff"  # Excel in China opens UTF-8 only with a BOM
            yield writer.writerow([title for title, _ in EXPORT_COLUMNS])
            for order in queryset.select_related("rep").order_by("-created_at").iterator(chunk_size=2000):
                yield writer.writerow([get(order) for _, get in EXPORT_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="orders-{timezone.localdate():%Y%m%d}.csv"'
        return response

    @admin.action(description="取消所选的待付款订单（释放库存）", permissions=["change"])
    def cancel_unpaid(self, request, queryset):
        done = 0
        for order in queryset.filter(status=Order.Status.PENDING_PAYMENT):
            try:
                order_cancel_by_customer(order_id=order.pk, customer_id=order.customer_id)
                done += 1
            except ApplicationError as error:
                self.message_user(request, f"{order.number}：{error.message}", messages.WARNING)
        self.message_user(request, f"已取消 {done} 个待付款订单")


@admin.register(OrderSettings)
class OrderSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "cutoff_time", "min_order_amount", "delivery_fee", "free_delivery_threshold",
                    "payment_timeout_minutes"]

    def has_add_permission(self, request):
        return not OrderSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["out_trade_no", "order", "amount_fen", "status", "transaction_id", "succeeded_at"]
    list_filter = ["status"]
    search_fields = ["=out_trade_no", "=transaction_id"]
    list_select_related = ["order"]


@admin.register(PaymentNotification)
class PaymentNotificationAdmin(ReadOnlyAdmin):
    list_display = ["notification_id", "event_type", "out_trade_no", "outcome", "received_at"]
    search_fields = ["=out_trade_no", "=notification_id"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["out_refund_no", "order", "amount", "reason", "status", "created_at", "succeeded_at"]
    list_filter = ["status"]
    search_fields = ["=out_refund_no", "order__number"]
    list_select_related = ["order"]
