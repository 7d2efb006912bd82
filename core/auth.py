from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.demo_passwords import DEMO_PASSWORDS


def demo_password_refused(password) -> bool:
    """Under ENVIRONMENT=production the seeder's published passwords are worth nothing."""
    return settings.ENVIRONMENT == "production" and password in DEMO_PASSWORDS


class UserWithRoleBackend(ModelBackend):
    """The logged-in user with their rep or driver row in the same query.

    Every staff page asks "is this an active rep / driver?"; loading the role with the user saves
    a query on each of them (the rep assistant polls every few seconds).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        # Whatever hash the account holds: a database seeded with demo data and then put into
        # production must not open to the passwords printed in the README.
        if demo_password_refused(password):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("rep", "driver").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


class DemoPasswordValidator:
    """AUTH_PASSWORD_VALIDATORS: in production nobody may choose a demo password (admin,
    createsuperuser, changepassword)."""

    def validate(self, password, user=None):
        if demo_password_refused(password):
            raise ValidationError(_("这是公开的演示密码，正式环境不能使用。"), code="demo_password")

    def get_help_text(self):
        return _("不能使用公开的演示密码。")
