from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdminMixin
from core.errors import ApplicationError
from core.inputs import id_from_text
from customers.models import Customer

from . import dashboard
from .accounts import REP_GROUP, rep_login_check, rep_login_create
from .models import (
    EntryEvent, Handover, HandoverItem, Rep, VisitNote, WeComContact, WeComContactEvent, WeComTransfer,
)
from .qr import rep_entry_path
from .services import customers_handover
from .views import code_png_response




# --- Rep ---


class RepAdminForm(forms.ModelForm):
    login_username = forms.CharField(
        label="新建登录用户名", required=False, max_length=150,
        help_text=f"填写后为该业务员新建登录账号（加入“{REP_GROUP}”组），用于登录业务员助手 /rep/")
    login_password = forms.CharField(label="登录密码", required=False, strip=False,
                                     widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))

    class Meta:
        model = Rep
        fields = "__all__"

    def clean(self):
        data = super().clean()
        username, password = (data.get("login_username") or "").strip(), data.get("login_password") or ""
        if not (username or password):
            return data
        if data.get("user") or (self.instance.pk and self.instance.user_id):
            self.add_error("login_username", "已关联登录账号，无需新建")
        elif not password:
            self.add_error("login_password", "请设置登录密码")
        else:
            try:
                data["login_username"] = rep_login_check(username=username, password=password)
            except ApplicationError as error:
                field = "login_password" if error.code == "invalid_password" else "login_username"
                self.add_error(field, error.message)
        return data


class _HandoverHistoryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Handover
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        # Both sides: each row is labelled "from → to" (str(handover)).
        return super().get_queryset(request).select_related("from_rep", "to_rep", "performed_by")


class HandoverOutInline(_HandoverHistoryInline):
    fk_name = "from_rep"
    fields = ("created_at", "to_rep", "customer_count", "reason", "revoked_access", "performed_by")
    readonly_fields = fields
    verbose_name = verbose_name_plural = "移出客户记录"


class HandoverInInline(_HandoverHistoryInline):
    fk_name = "to_rep"
    fields = ("created_at", "from_rep", "customer_count", "reason", "revoked_access", "performed_by")
    readonly_fields = fields
    verbose_name = verbose_name_plural = "接收客户记录"


class HandoverForm(forms.Form):
    SCOPE_ALL, SCOPE_SELECTED = "all", "selected"

    to_rep = forms.ModelChoiceField(label="接收人", queryset=Rep.objects.none(), empty_label="请选择在职业务员")
    scope = forms.ChoiceField(label="移交范围", widget=forms.RadioSelect, initial=SCOPE_ALL,
                              choices=[(SCOPE_ALL, "全部客户"), (SCOPE_SELECTED, "选中的客户")])
    customers = forms.ModelMultipleChoiceField(label="客户", queryset=Customer.objects.none(), required=False,
                                               widget=FilteredSelectMultiple("客户", is_stacked=False),
                                               help_text="仅在“选中的客户”时使用")
    reason = forms.CharField(label="原因", max_length=200, required=False)
    revoke_access = forms.BooleanField(label="同时停用移交人", required=False,
                                       help_text="停用后移交人立即无法登录业务员助手，其二维码不再获得新客户归属")

    def __init__(self, *args, from_rep: Rep, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_rep"].queryset = Rep.objects.filter(is_active=True).exclude(pk=from_rep.pk)
        self.fields["customers"].queryset = Customer.objects.filter(rep=from_rep).order_by("name", "id")

    def clean(self):
        data = super().clean()
        if data.get("scope") == self.SCOPE_SELECTED and not data.get("customers"):
            self.add_error("customers", "请选择要移交的客户")
        return data


@admin.register(Rep)
class RepAdmin(admin.ModelAdmin):
    form = RepAdminForm
    change_list_template = "admin/reps/rep/change_list.html"
    change_form_template = "admin/reps/rep/change_form.html"
    list_display = ("name", "phone", "key", "territory", "user", "is_active", "customer_count")
    list_filter = ("is_active",)
    list_select_related = ("user",)
    search_fields = ("name", "phone", "key")
    autocomplete_fields = ("user",)
    actions = ("handover_customers",)
    inlines = (HandoverOutInline, HandoverInInline)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_count=Count("customers"))

    def get_readonly_fields(self, request, obj=None):
        # The key is printed in the rep's QR codes; changing it would orphan every code in use.
        if obj is not None:
            return ("key", "qr_code", "wecom_summary", "created_at", "updated_at")
        return ("qr_code", "wecom_summary", "created_at", "updated_at")

    def get_fieldsets(self, request, obj=None):
        login = ("user",) if obj is not None and obj.user_id else ("user", "login_username", "login_password")
        key = ("key", "qr_code") if obj is not None else ("key",)
        return (
            (None, {"fields": ("name", "phone", "territory", "photo", "wecom_user_id", "is_active")}),
            *((("企业微信", {"fields": ("wecom_summary",)}),) if obj is not None else ()),
            ("二维码", {"fields": key,
                        "description": "业务员码印在二维码里，保存后不可修改；新建时自动生成" if obj is None else ""}),
            ("登录账号", {"fields": login}),
            ("记录", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
        )

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        username = form.cleaned_data.get("login_username")
        if username and not obj.user_id:
            rep_login_create(rep=obj, username=username, password=form.cleaned_data["login_password"])
            self.message_user(request, f"已为 {obj.name} 新建登录账号“{username}”，可在 /rep/login/ 登录业务员助手",
                              messages.SUCCESS)

    @admin.display(description="客户数", ordering="customer_count")
    def customer_count(self, obj):
        return obj.customer_count

    @admin.display(description="二维码与入口链接")
    def qr_code(self, obj):
        if obj is None or obj.pk is None:
            return "保存后生成"
        qr_url = reverse("admin:reps_rep_qr", args=[obj.pk])
        entry = rep_entry_path(obj)
        return format_html(
            '<img src="{}" width="160" height="160" alt="{} 的二维码" data-testid="rep-qr"><br>'
            '入口链接：<a href="{}" target="_blank" rel="noopener">{}</a><br>'
            '<a href="{}" download="rep-{}.png">下载二维码图片</a>',
            qr_url, obj.name, entry, entry, qr_url, obj.key,
        )

    @admin.display(description="企业微信客户与联系我二维码")
    def wecom_summary(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        counts = WeComContact.objects.filter(rep=obj).aggregate(
            active=Count("id", filter=Q(status=WeComContact.Status.ACTIVE)), total=Count("id"))
        contacts = reverse("admin:reps_wecomcontact_changelist") + f"?rep__id__exact={obj.pk}"
        code = (format_html('联系我二维码：<a href="{}" target="_blank" rel="noopener">{}</a>', obj.wecom_qr_code,
                            obj.wecom_config_id) if obj.wecom_config_id else "联系我二维码：业务员打开名片时生成")
        return format_html('<a href="{}" data-testid="rep-wecom-contacts">企业微信客户 {} 位（共 {} 条记录）</a><br>{}',
                           contacts, counts["active"], counts["total"], code)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="%s_%s_dashboard" % info),
            path("<path:object_id>/qr.png", view(self.qr_view), name="%s_%s_qr" % info),
            path("<path:object_id>/handover/", view(self.handover_view), name="%s_%s_handover" % info),
            *super().get_urls(),
        ]

    def _rep_or_404(self, request, object_id) -> Rep:
        rep = self.get_object(request, unquote(object_id))
        if rep is None:
            raise Http404("业务员不存在")
        return rep

    def qr_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        rep = self._rep_or_404(request, object_id)
        return code_png_response(rep, request)

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return dashboard.rep_dashboard_view(request, model_admin=self)

    @admin.action(description="移交客户…", permissions=["change"])
    def handover_customers(self, request, queryset):
        reps = list(queryset[:2])
        if len(reps) != 1:
            self.message_user(request, "请只选择一位移交人", messages.WARNING)
            return None
        return redirect("admin:reps_rep_handover", reps[0].pk)

    def handover_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        from_rep = self._rep_or_404(request, object_id)
        initial = {}
        preselected = [pk for pk in map(id_from_text, request.GET.get("customers", "").split(",")) if pk]
        if preselected:  # e.g. from a customer list: ?customers=3,5,8
            initial = {"scope": HandoverForm.SCOPE_SELECTED, "customers": preselected}
        form = HandoverForm(request.POST or None, from_rep=from_rep, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            selected = data["scope"] == HandoverForm.SCOPE_SELECTED
            try:
                handover = customers_handover(
                    from_rep=from_rep, to_rep=data["to_rep"],
                    customer_ids=[c.pk for c in data["customers"]] if selected else None,
                    reason=data["reason"], revoke_access=data["revoke_access"], performed_by=request.user,
                )
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                note = f"，{from_rep.name} 已停用" if handover.revoked_access else ""
                transfers = handover.wecom_transfers.count()
                if transfers:
                    note += f"；{transfers} 位企业微信客户转接中（结果见本页）"
                self.message_user(request, f"已将 {handover.customer_count} 位客户从 {from_rep.name} 移交给 "
                                           f"{data['to_rep'].name}{note}", messages.SUCCESS)
                return redirect("admin:reps_handover_change", handover.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"移交客户：{from_rep.name}",
            "from_rep": from_rep,
            "customer_total": form.fields["customers"].queryset.count(),
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/reps/rep/handover.html", context)


# --- History: handovers, entries, visit notes ---


class HandoverItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = HandoverItem
    fields = ("customer_link", "customer_phone", "current_rep")
    readonly_fields = fields
    extra = 0
    verbose_name = "客户"
    verbose_name_plural = "移交的客户"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer__rep")

    @admin.display(description="客户")
    def customer_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:customers_customer_change", args=[obj.customer_id]),
                           obj.customer.name)

    @admin.display(description="手机号")
    def customer_phone(self, obj):
        return obj.customer.phone

    @admin.display(description="现在的业务员")
    def current_rep(self, obj):
        return obj.customer.rep or "—"


class WeComTransferInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Per WeCom customer: waiting, done, refused by the customer, taker over the limit (reps.wecom_transfer)."""

    model = WeComTransfer
    fields = ("contact_name", "external_userid", "customer", "resigned", "status", "errcode", "submitted_at",
              "finished_at")
    readonly_fields = fields
    extra = 0
    verbose_name = "企业微信客户"
    verbose_name_plural = "企业微信客户转接"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact__customer")

    @admin.display(description="昵称")
    def contact_name(self, obj):
        return obj.contact.name or "—"

    @admin.display(description="客户")
    def customer(self, obj):
        return obj.contact.customer or "—"


@admin.register(Handover)
class HandoverAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    change_form_template = "admin/reps/handover/change_form.html"
    list_display = ("created_at", "from_rep", "to_rep", "customer_count", "reason", "revoked_access", "performed_by")
    list_filter = ("revoked_access", "created_at", "from_rep", "to_rep")
    list_select_related = ("from_rep", "to_rep", "performed_by")
    search_fields = ("from_rep__name", "to_rep__name", "reason")
    fields = ("created_at", "from_rep", "to_rep", "customer_count", "reason", "revoked_access", "performed_by")
    readonly_fields = fields
    inlines = (HandoverItemInline, WeComTransferInline)


@admin.register(EntryEvent)
class EntryEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "rep", "scene_kind", "scene_code", "visit_kind", "credited", "visitor", "customer")
    list_filter = ("rep", "scene_kind", "visit_kind", "credited", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("rep", "visitor", "customer")
    search_fields = ("rep__name", "rep__key", "visitor__openid", "customer__name")
    fields = ("created_at", "rep", "scene", "scene_code", "scene_kind", "visit_kind", "credited", "launch_id",
              "visitor", "customer")
    readonly_fields = fields
    # Counting a table of millions on every page is the slow part of a changelist.
    show_full_result_count = False


@admin.register(VisitNote)
class VisitNoteAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rep", "customer", "note", "location")
    list_filter = ("rep", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("rep", "customer")
    search_fields = ("note", "customer__name", "rep__name")
    fields = ("created_at", "rep", "customer", "note", "latitude", "longitude")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="位置")
    def location(self, obj):
        if obj.latitude is None:
            return "—"
        return f"{obj.latitude}, {obj.longitude}"


@admin.register(WeComContact)
class WeComContactAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each rep's WeCom contacts as WeCom's callbacks reported them (filter by rep)."""

    list_display = ("added_at", "rep", "name", "external_userid", "state", "status", "removed_at", "customer")
    list_filter = ("rep", "status", ("added_at", admin.DateFieldListFilter))
    list_select_related = ("rep", "customer")
    search_fields = ("rep__name", "rep__key", "external_userid", "state", "customer__name", "name", "phone")
    fields = ("rep", "external_userid", "name", "unionid", "phone", "state", "status", "added_at", "removed_at",
              "transfer_fail_reason", "customer")
    readonly_fields = fields


@admin.register(WeComContactEvent)
class WeComContactEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "change_type", "rep", "user_id", "external_userid", "state", "fail_reason")
    list_filter = ("change_type", "rep", ("received_at", admin.DateFieldListFilter))
    list_select_related = ("rep",)
    search_fields = ("external_userid", "user_id", "state")
    fields = ("received_at", "event_time", "change_type", "rep", "user_id", "external_userid", "state",
              "fail_reason", "has_welcome_code", "contact", "dedupe_key")
    readonly_fields = fields
    show_full_result_count = False
