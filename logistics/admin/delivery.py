"""Admin of delivery runs, stops and drivers."""

import mimetypes

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count, Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, ReadOnlyInline, SaveOnlyWhenEditableMixin
from core.errors import ApplicationError

from ..dispatch import runs_build
from ..models import DeliveryRun, DeliverySettings, Driver, Stop


class RunBuildForm(forms.Form):
    delivery_date = forms.DateField(label="送货日期", widget=forms.DateInput(attrs={"type": "date"}))
    drivers = forms.ModelMultipleChoiceField(
        label="送货司机", required=False, widget=forms.CheckboxSelectMultiple,
        queryset=Driver.objects.filter(kind=Driver.Kind.DELIVERY, is_active=True, user__is_active=True,
                                       suspended_at__isnull=True),
        help_text="不选则为全部在职送货司机（被暂停的司机不派单）",
    )
    time_limit_s = forms.IntegerField(label="优化时长(秒)", min_value=1, max_value=60, initial=5,
                                      help_text="OR-Tools 搜索时间上限；找不到解时按就近顺序排线")


def _run_build_messages(admin_obj, request, result) -> None:
    level = messages.WARNING if result.dropped or result.without_location else messages.SUCCESS
    admin_obj.message_user(request, result.summary(), level)


class StopInline(ReadOnlyInline):
    """Stops are planned by 排线 and completed by the driver with proof: shown, never typed here."""

    model = Stop
    fields = ("sequence", "order_link", "restaurant", "status", "proof", "photo_link", "photo_taken_at",
              "completed_at", "failure_reason")
    readonly_fields = fields
    ordering = ("sequence",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description="订单")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    @admin.display(description="餐厅")
    def restaurant(self, obj):
        return obj.order.restaurant_name

    @admin.display(description="签收")
    def proof(self, obj):
        if obj.proof_kind == Stop.Proof.SIGNED:
            return f"{obj.signed_by} 签收"
        if obj.proof_kind == Stop.Proof.LEFT:
            return f"放在{obj.left_at}"
        return "-"

    @admin.display(description="照片")
    def photo_link(self, obj):
        return stop_photo_link(obj)


def stop_photo_link(stop) -> str:
    """The proof photo through StopAdmin's photo view: it has no public address (logistics.storage)."""
    if not stop.photo:
        return "-"
    return format_html('<a href="{}" target="_blank">查看</a>', reverse("admin:logistics_stop_photo", args=[stop.pk]))


@admin.register(DeliveryRun)
class DeliveryRunAdmin(SaveOnlyWhenEditableMixin, admin.ModelAdmin):
    change_list_template = "admin/logistics/deliveryrun/change_list.html"
    list_display = ("delivery_date", "driver", "status", "stop_count", "delivered_count", "reassign_count",
                    "planned_by", "total_distance_km")
    list_filter = ("status", "delivery_date", "driver")
    list_select_related = ("driver",)
    search_fields = ("driver__name", "stops__order__number")
    date_hierarchy = "delivery_date"
    fields = ("driver", "delivery_date", "status", "planned_by", "total_distance_km", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (StopInline,)
    actions = ("build_for_dates",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            stop_count=Count("stops"), delivered_count=Count("stops", filter=Q(stops__status=Stop.Status.DELIVERED)),
            reassign_count=Count("stops", filter=Q(stops__needs_reassignment=True)))

    @admin.display(description="站点数", ordering="stop_count")
    def stop_count(self, obj):
        return obj.stop_count

    @admin.display(description="已送达", ordering="delivered_count")
    def delivered_count(self, obj):
        return obj.delivered_count

    @admin.display(description="待改派", ordering="reassign_count")
    def reassign_count(self, obj):
        return obj.reassign_count or "-"

    def has_add_permission(self, request):
        return False  # runs come from 排线

    def has_delete_permission(self, request, obj=None):
        return False  # a run's stops are its history; never wiped

    @admin.action(description="为所选日期排线", permissions=["change"])
    def build_for_dates(self, request, queryset):
        for day in sorted(set(queryset.values_list("delivery_date", flat=True))):
            try:
                _run_build_messages(self, request, runs_build(delivery_date=day))
            except ApplicationError as error:
                self.message_user(request, f"{day}：{error.message}", messages.ERROR)

    def get_urls(self):
        return [
            path("build/", self.admin_site.admin_view(self.build_view), name="logistics_deliveryrun_build"),
            *super().get_urls(),
        ]

    def build_view(self, request):
        if not self.has_change_permission(request):
            raise DjangoPermissionDenied
        form = RunBuildForm(request.POST or None, initial={"delivery_date": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            drivers = form.cleaned_data["drivers"]
            try:
                result = runs_build(delivery_date=form.cleaned_data["delivery_date"],
                                    driver_ids=[driver.pk for driver in drivers] or None,
                                    time_limit_s=form.cleaned_data["time_limit_s"])
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                _run_build_messages(self, request, result)
                return redirect(reverse("admin:logistics_deliveryrun_changelist")
                                + f"?delivery_date={result.delivery_date.isoformat()}")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "排线", "form": form,
                   "to_reassign": Stop.objects.filter(needs_reassignment=True, status=Stop.Status.PENDING).count(),
                   "suspended": list(Driver.objects.filter(suspended_at__isnull=False).order_by("name")
                                     .values_list("name", flat=True))}
        return TemplateResponse(request, "admin/logistics/deliveryrun/build.html", context)


@admin.register(Stop)
class StopAdmin(ReadOnlyAdmin):
    list_display = ("delivery_date", "driver", "sequence", "order_number", "restaurant", "status", "proof_kind",
                    "proof_distance", "needs_reassignment", "photo_taken_at", "completed_at")
    list_filter = ("status", "far_from_customer", "needs_reassignment", "proof_kind", "run__delivery_date")
    list_select_related = ("run__driver", "order")
    search_fields = ("order__number", "order__restaurant_name", "run__driver__name")
    search_help_text = "按订单号、餐厅或司机搜索"
    fields = ("run", "order", "sequence", "status", "proof_kind", "signed_by", "left_at", "photo_link",
              "photo_taken_at", "proof_latitude", "proof_longitude", "proof_distance_m", "far_from_customer",
              "needs_reassignment", "failure_reason", "completed_at")
    readonly_fields = fields
    actions = ("release_for_reassignment",)

    @admin.display(description="签收距离", ordering="proof_distance_m")
    def proof_distance(self, obj):
        if obj.proof_distance_m is None:
            return "无定位" if obj.status == Stop.Status.DELIVERED else "-"
        text = f"{obj.proof_distance_m} 米"
        return format_html('<strong style="color:#fa5151">{}（异常）</strong>', text) if obj.far_from_customer else text

    @admin.action(description="改派：从被暂停司机的线路上撤下所选待改派站点（之后重新排线）",
                  permissions=["release"])
    def release_for_reassignment(self, request, queryset):
        from ..conduct import stops_release_for_reassignment

        released = stops_release_for_reassignment(stop_ids=queryset.values_list("pk", flat=True),
                                                  actor=request.user.get_username())
        self.message_user(request, f"已撤下 {released} 个待改派站点，订单回到待排线，请重新排线",
                          messages.SUCCESS if released else messages.WARNING)

    def has_release_permission(self, request):
        return request.user.has_perm("logistics.change_deliveryrun")

    def get_urls(self):
        return [path("<path:object_id>/photo/", self.admin_site.admin_view(self.photo_view),
                     name="logistics_stop_photo"), *super().get_urls()]

    def photo_view(self, request, object_id):
        """The proof photo, to staff who may view stops; nobody else has a way to it."""
        if not self.has_view_permission(request):
            raise DjangoPermissionDenied
        stop = self.get_object(request, unquote(object_id))
        if stop is None or not stop.photo:
            raise Http404("没有现场照片")
        response = FileResponse(stop.photo.open("rb"), content_type=mimetypes.guess_type(stop.photo.name)[0])
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.display(description="照片")
    def photo_link(self, obj):
        return stop_photo_link(obj)

    @admin.display(description="送货日期", ordering="run__delivery_date")
    def delivery_date(self, obj):
        return obj.run.delivery_date

    @admin.display(description="司机")
    def driver(self, obj):
        return obj.run.driver.name

    @admin.display(description="订单号", ordering="order__number")
    def order_number(self, obj):
        return obj.order.number

    @admin.display(description="餐厅")
    def restaurant(self, obj):
        return obj.order.restaurant_name


class SuspendedFilter(admin.SimpleListFilter):
    title = "暂停"
    parameter_name = "suspended"

    def lookups(self, request, model_admin):
        return [("yes", "已暂停"), ("no", "未暂停")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(suspended_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(suspended_at__isnull=True)
        return queryset


@admin.register(DeliverySettings)
class DeliverySettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "proof_distance_limit_m")

    def has_add_permission(self, request):
        return not DeliverySettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    """Purchasing and delivery drivers. The login (User) is created first in 用户, then linked here;
    putting it in the group 进货司机 / 送货司机 is done on save."""

    list_display = ("name", "kind", "phone", "vehicle_plate", "max_stops", "max_weight_kg", "user", "is_active",
                    "suspension")
    list_filter = ("kind", "is_active", SuspendedFilter)
    search_fields = ("name", "phone", "vehicle_plate", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("suspended_at", "suspended_by", "suspension_reason")
    actions = ("suspend", "unsuspend")

    @admin.display(description="暂停", ordering="suspended_at")
    def suspension(self, obj):
        if not obj.is_suspended:
            return "-"
        return f"{timezone.localtime(obj.suspended_at):%m-%d %H:%M} {obj.suspended_by}"

    @admin.action(description="暂停司机：立即下线、不再派单、未完成站点待改派", permissions=["change"])
    def suspend(self, request, queryset):
        from ..conduct import driver_suspend

        for driver in queryset.order_by("pk"):
            try:
                driver_suspend(driver_id=driver.pk, actor=request.user.get_username(),
                               reason=f"管理员 {request.user.get_username()} 暂停")
            except ApplicationError as error:
                self.message_user(request, error.message, messages.WARNING)
            else:
                done = ("未提货的采购任务已取消分配，请在采购任务页重新分配" if driver.kind == Driver.Kind.PURCHASING
                        else "未完成的站点已标记待改派")
                self.message_user(request, f"{driver.name} 已暂停：已下线，不再派单，{done}", messages.SUCCESS)

    @admin.action(description="恢复司机：恢复登录与派单", permissions=["change"])
    def unsuspend(self, request, queryset):
        from ..conduct import driver_unsuspend

        for driver in queryset.order_by("pk"):
            try:
                driver_unsuspend(driver_id=driver.pk, actor=request.user.get_username())
            except ApplicationError as error:
                self.message_user(request, error.message, messages.WARNING)
            else:
                self.message_user(request, f"{driver.name} 已恢复", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        from django.contrib.auth.models import Group

        from ..roles import DELIVERY_GROUP, PURCHASING_GROUP

        super().save_model(request, obj, form, change)
        name = DELIVERY_GROUP if obj.kind == Driver.Kind.DELIVERY else PURCHASING_GROUP
        group, _ = Group.objects.get_or_create(name=name)
        obj.user.groups.add(group)
