"""A rep's login to the rep assistant (a plain Django user in the group 业务员, never staff)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.errors import ValidationFailed

from .models import Rep

REP_GROUP = "业务员"


def rep_login_check(*, username: str, password: str) -> str:
    """The checks a new login must pass (also used by the admin form to show errors in place)."""
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ValidationFailed("请填写登录用户名", code="invalid_username")
    try:
        User.username_validator(username)
    except ValidationError as error:
        raise ValidationFailed("；".join(error.messages), code="invalid_username")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationFailed(f"用户名“{username}”已被使用", code="username_taken")
    try:
        validate_password(password, user=User(username=username))
    except ValidationError as error:
        raise ValidationFailed("；".join(_password_problem(e) for e in error.error_list), code="invalid_password")
    return username


# Django's own wording is not translated for every validator; say it in Chinese here.
_PASSWORD_PROBLEMS = {
    "password_too_short": "密码至少 {min_length} 个字符",
    "password_too_common": "密码过于常见",
    "password_entirely_numeric": "密码不能全是数字",
    "password_too_similar": "密码与用户名过于相似",
}


def _password_problem(error: ValidationError) -> str:
    template = _PASSWORD_PROBLEMS.get(error.code)
    return template.format(**(error.params or {})) if template else " ".join(error.messages)


def rep_login_create(*, rep: Rep, username: str, password: str):
    """Create the rep's login and link it. Refused if the rep already has one or the name is taken."""
    User = get_user_model()
    username = rep_login_check(username=username, password=password)
    with transaction.atomic():
        locked = Rep.objects.select_for_update().get(pk=rep.pk)
        if locked.user_id is not None:
            raise ValidationFailed("该业务员已有登录账号", code="rep_has_login")
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, password=password,
                                                first_name=rep.name[:150], is_active=locked.is_active)
        except IntegrityError:  # the same name taken a moment ago by someone else
            raise ValidationFailed(f"用户名“{username}”已被使用", code="username_taken")
        group, _ = Group.objects.get_or_create(name=REP_GROUP)
        user.groups.add(group)
        locked.user = user
        locked.save(update_fields=["user", "updated_at"])
    rep.user = user
    return user
