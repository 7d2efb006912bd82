import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.models import BaseModel

# Short and unambiguous: no 0/O, 1/I/L. Fits the 32-character `scene` of a mini-program code.
KEY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
KEY_PATTERN = re.compile(rf"^[{KEY_ALPHABET}]{{4,12}}$")


def new_rep_key(length: int = 6) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def validate_rep_key(value: str) -> None:
    if not KEY_PATTERN.match(value or ""):
        raise ValidationError("业务员码须为 4-12 位大写字母或数字（不含 0/O/1/I/L）")


class Rep(BaseModel):
    """A field rep (地推). Reps only acquire and revisit customers; the code is their tool."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name="登录账号", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="rep",
    )
    name = models.CharField("姓名", max_length=40)
    phone = models.CharField("手机号", max_length=20, blank=True)
    key = models.CharField("业务员码", max_length=12, unique=True, default=new_rep_key, validators=[validate_rep_key])
    territory = models.CharField("负责片区", max_length=40, blank=True)
    is_active = models.BooleanField("在职", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "业务员"
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def scene(self) -> str:
        """The `scene` string carried by the rep's mini-program code."""
        return f"r={self.key}"
