"""What every admin of the project shares; and login lockouts (django-axes): who is locked, 解除锁定."""

from axes.admin import AccessAttemptAdmin, AccessLogAdmin
from axes.models import AccessLog
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from django.utils.html import format_html

from .lockouts import login_locks_clear
from .models import LoginLock


class SaveOnlyWhenEditableMixin:
    """No 保存 buttons on a change page where nothing can be edited.

    Some admins keep the change permission for their actions (cancel unpaid orders, retry a
    message, build delivery runs) while every field of the page is read-only; Django would still
    show 保存 and 保存并继续编辑, which save nothing. They are hidden when the form has no field
    left to type in and no inline can add, delete or change a row.
    """

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and not _editable(context):
            context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False,
                           show_save_as_new=False)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


def _editable(context) -> bool:
    admin_form = context.get("adminform")
    if admin_form is not None and admin_form.form.fields:
        return True
    for inline in context.get("inline_admin_formsets", ()):
        if inline.has_add_permission or (inline.has_delete_permission and inline.formset.can_delete):
            return True
        if inline.has_change_permission and inline.formset.form.base_fields:
            return True
    return False


class ReadOnlyAdminMixin:
    """Rows the system writes (history, ledgers, payments): admins read them, never add, edit or
    delete them. For a ModelAdmin or an inline alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class SettingsRowAdmin(admin.ModelAdmin):
    """A settings model of one row (its `current()` makes it): the row exists from the first look
    at the list, so it is edited, never added or deleted."""

    def changelist_view(self, request, extra_context=None):
        self.model.current()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False  # no query here: admin asks on every page's sidebar

    def has_delete_permission(self, request, obj=None):
        return False


class PhotoPreviewInline(ReadOnlyInline):
    """A customer's photos (after-sales, complaints) under their case: each one a thumbnail that
    opens the picture. The model has `image`, `width`, `height` and `uploaded_at`."""

    fields = ["preview", "width", "height", "uploaded_at"]
    readonly_fields = fields

    @admin.display(description="照片")
    def preview(self, photo):
        return format_html('<a href="{0}" target="_blank"><img src="{0}" style="max-height:160px"></a>',
                           photo.image.url)


def waited_text(since, until=None) -> str:
    """How long a case has waited, as the queues show it: 「5 小时」, 「2 天 3 小时」."""
    hours = int(((until or timezone.now()) - since).total_seconds() // 3600)
    return f"{hours // 24} 天 {hours % 24} 小时" if hours >= 24 else f"{hours} 小时"


def object_for_action(model_admin, request, object_id, *, missing: str):
    """The object of an admin page of our own (decide, reply): the change permission is needed,
    and an unknown id is a 404 saying `missing`."""
    from django.contrib.admin.utils import unquote

    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(missing)
    return obj


# --- Login lockouts (django-axes; settings in one block of seafood_b2b/settings.py) -------------

@admin.register(LoginLock)
class LoginLockAdmin(AccessAttemptAdmin):
    """Read and cleared (解除锁定, or delete the row), never edited."""

    list_display = ["username", "failures_since_start", "locked", "attempt_time", "ip_address", "path_info"]
    actions = ["clear_lock"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="状态", boolean=False)
    def locked(self, obj):
        return "已锁定" if obj.failures_since_start >= settings.AXES_FAILURE_LIMIT else "未锁定"

    @admin.action(description="解除锁定", permissions=["delete"])
    def clear_lock(self, request, queryset):
        cleared = login_locks_clear(usernames=list(queryset.values_list("username", flat=True)))
        self.message_user(request, f"已解除 {cleared} 个账号的登录锁定，可以立即用正确密码登录", messages.SUCCESS)


@admin.register(AccessLog)
class LoginLogAdmin(ReadOnlyAdminMixin, AccessLogAdmin):
    pass
