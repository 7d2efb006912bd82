from axes.models import AccessAttempt
from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField("创建时间", auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        abstract = True


class LoginLock(AccessAttempt):
    """django-axes' failed-login record under a name staff read: the admin's 登录锁定 page."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "登录锁定"
        ordering = ["-attempt_time"]
