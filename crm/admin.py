"""Admin: tag groups and tags, the automatic-tag rules, segments with their live count, the welcome.

Also the two tag inlines CustomerAdmin shows (customers/admin.py): manual tags, edited there, and
automatic ones, read only."""

from django import forms
from django.contrib import admin
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin import ReadOnlyInline

from .models import (AutoTagSettings, CategoryShareRule, CustomerTag, Segment, Tag, TagGroup, WelcomeDue,
                     WelcomeSettings)
from .rules import __doc__ as RULES_DOC
from .segments import segment_filters, segment_funnel


class SingletonAdmin(admin.ModelAdmin):
    """A settings row (pk=1): edited, never added or deleted. The list makes sure the row exists, so
    the admin's sidebar asks the database nothing about it (no "may I add one?" query per page)."""

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        self.model.current()
        return super().changelist_view(request, extra_context=extra_context)

    def has_delete_permission(self, request, obj=None):
        return False


# --- Tags ------------------------------------------------------------------------------------

class TagInline(admin.TabularInline):
    model = Tag
    extra = 1
    fields = ("name", "sort_order", "rfm_segment")


@admin.register(TagGroup)
class TagGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "sort_order", "tag_names")
    list_editable = ("sort_order",)
    inlines = (TagInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="标签")
    def tag_names(self, obj):
        return "、".join(tag.name for tag in obj.tags.all())


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "group", "rfm_segment", "price_list", "sort_order")
    list_filter = ("group", "price_list")
    list_select_related = ("group", "price_list")
    autocomplete_fields = ("price_list",)
    search_fields = ("name", "group__name")


class ManualTagFormSet(forms.BaseInlineFormSet):
    user = None

    def save_new(self, form, commit=True):
        form.instance.source = CustomerTag.Source.MANUAL
        form.instance.created_by = self.user
        return super().save_new(form, commit=commit)


class ManualCustomerTagInline(admin.TabularInline):
    """Staff tag a customer by hand (tags of manual groups only)."""

    model = CustomerTag
    verbose_name = verbose_name_plural = "手动标签"
    fields = ("tag", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    formset = ManualTagFormSet
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).filter(source=CustomerTag.Source.MANUAL).select_related(
            "tag__group", "created_by")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tag":
            kwargs["queryset"] = Tag.objects.filter(group__kind=TagGroup.Kind.MANUAL).select_related("group")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.user = request.user
        return formset


class AutoCustomerTagInline(ReadOnlyInline):
    """What the nightly rules gave the customer (自动标签设置, 品类占比规则)."""

    model = CustomerTag
    verbose_name = verbose_name_plural = "自动标签（每晚按规则计算）"
    fields = ("tag", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(source=CustomerTag.Source.AUTO).select_related("tag__group")


# --- Automatic tags ----------------------------------------------------------------------------

@admin.register(AutoTagSettings)
class AutoTagSettingsAdmin(SingletonAdmin):
    list_display = ("__str__", "category_window_days", "rfm_window_days")
    fieldsets = ((None, {"fields": ("category_window_days", "rfm_window_days"),
                         "description": format_html("<pre style='white-space:pre-wrap'>{}</pre>", RULES_DOC.strip())}),)


@admin.register(CategoryShareRule)
class CategoryShareRuleAdmin(admin.ModelAdmin):
    list_display = ("tag", "category", "threshold_percent", "is_active")
    list_filter = ("is_active",)
    list_select_related = ("tag__group", "category__parent")
    autocomplete_fields = ("category",)


# --- Segments --------------------------------------------------------------------------------

class SegmentForm(forms.ModelForm):
    churn_statuses = forms.MultipleChoiceField(label="流失状态", required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Segment
        exclude = ("created_by",)

    def __init__(self, *args, **kwargs):
        from customers.models import Customer

        super().__init__(*args, **kwargs)
        self.fields["churn_statuses"].choices = Customer.Status.choices
        if self.instance.pk and not self.is_bound:
            self.initial["churn_statuses"] = [s for s in self.instance.churn_statuses.split(",") if s]

    def clean_churn_statuses(self):
        return ",".join(self.cleaned_data["churn_statuses"])

    def clean(self):
        data = super().clean()
        location = [data.get("near_latitude"), data.get("near_longitude"), data.get("radius_km")]
        if any(v is not None for v in location) and not all(v is not None for v in location):
            raise forms.ValidationError("按距离筛选须同时填写中心纬度、经度和半径")
        low, high = data.get("spend_min"), data.get("spend_max")
        if low is not None and high is not None and low > high:
            raise forms.ValidationError("消费金额下限不能大于上限")
        start, end = data.get("last_order_from"), data.get("last_order_to")
        if start and end and start > end:
            raise forms.ValidationError("最近下单的开始日期不能晚于结束日期")
        return data


def funnel_text(funnel: dict, name: str = "") -> str:
    return f"{funnel['total']} 位客户 → {funnel['count']} 位{name}"


# Fields that do not filter: their errors (a name already used, say) do not stop a count.
NOT_FILTERS = {"name", "note"}


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "note", "customer_count", "created_by", "created_at")
    search_fields = ("name",)
    autocomplete_fields = ("tags", "reps", "category")
    readonly_fields = ("live_count",)
    fieldsets = (
        (None, {"fields": ("name", "note", "live_count")}),
        ("标签（组间为「且」，组内为「或」）", {"fields": ("tags",)}),
        ("业务员与地区", {"fields": ("reps", "districts", ("near_latitude", "near_longitude", "radius_km"))}),
        ("下单与消费", {"fields": ("churn_statuses", ("last_order_from", "last_order_to"), ("spend_min", "spend_max")),
                   "description": "消费金额与买过的品类按近 90 天（自动标签设置的品类占比统计天数）已付款订单计，每晚更新"}),
        ("品类", {"fields": (("category", "category_mode"),)}),
    )

    class Media:
        js = ("js/admin_segment_count.js",)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="人数（现在）")
    def customer_count(self, obj):
        # One COUNT per row of the page: segments are few, and each count is what "used" means.
        return segment_funnel(obj)["count"]

    @admin.display(description="人数")
    def live_count(self, obj):
        text = funnel_text(segment_funnel(obj), obj.name) if obj and obj.pk else "填写条件后显示人数"
        return format_html('<strong id="segment-count" data-url="{}" aria-live="polite">{}</strong>',
                           reverse("admin:crm_segment_count"), text)

    def get_urls(self):
        return [path("count/", self.admin_site.admin_view(self.count_view), name="crm_segment_count"),
                *super().get_urls()]

    def count_view(self, request):
        """POST the change form's fields: {"total", "count", "text"} for the filters as typed."""
        if not self.has_view_permission(request):
            return JsonResponse({"error": {"code": "forbidden", "message": "没有权限", "details": {}}}, status=403)
        if request.method != "POST":
            return JsonResponse({"error": {"code": "method_not_allowed", "message": "请用 POST", "details": {}}},
                                status=405)
        form = SegmentForm(request.POST)
        form.is_valid()
        problems = {name: [str(e) for e in errors] for name, errors in form.errors.items() if name not in NOT_FILTERS}
        if problems:
            return JsonResponse({"error": {"code": "invalid", "message": "筛选条件有误", "details": problems}},
                                status=400)
        data = form.cleaned_data
        fields = {name: data[name] for name in data if name not in ("tags", "reps")}
        draft = Segment(**fields)
        funnel = segment_funnel(segment_filters(draft, tags=data.get("tags") or [], reps=data.get("reps") or []))
        return JsonResponse({**funnel, "text": funnel_text(funnel, data.get("name") or "")})


# --- Welcome -----------------------------------------------------------------------------------

@admin.register(WelcomeSettings)
class WelcomeSettingsAdmin(SingletonAdmin):
    list_display = ("__str__", "is_active", "title", "text", "coupon_template")
    list_select_related = ("coupon_template",)


@admin.register(WelcomeDue)
class WelcomeDueAdmin(admin.ModelAdmin):
    """Who is owed a welcome and how it went (read-only: crm.welcome writes it; the message itself
    is in 通知 with event key welcome:<customer id>)."""

    list_display = ("customer", "created_at", "released_at", "released_by", "coupon")
    list_filter = ("released_by",)
    list_select_related = ("customer", "coupon__template")
    search_fields = ("customer__name", "customer__phone")
    readonly_fields = ("customer", "openid", "coupon", "created_at", "released_at", "released_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
