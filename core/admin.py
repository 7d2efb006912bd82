"""What every admin of the project shares; and login lockouts (django-axes): who is locked, 解除锁定."""

from axes.admin import AccessAttemptAdmin, AccessLogAdmin
from axes.models import AccessLog
from django.conf import settings
from django.contrib import admin, messages

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
