from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel


class Visitor(BaseModel):
    """A WeChat user who opened the mini program: identified by OpenID, no login needed.

    A visitor becomes (or joins) a customer only when they authorise their phone at payment.
    """

    openid = models.CharField("OpenID", max_length=64, unique=True)
    unionid = models.CharField("UnionID", max_length=64, blank=True, default="")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="visitors",
    )
    nickname = models.CharField("昵称", max_length=64, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True)
    last_seen_at = models.DateTimeField("最近访问", null=True, blank=True)
    # First touch: the first rep whose code brought this WeChat user in. Later codes are recorded
    # as entries, never credited.
    first_rep = models.ForeignKey("reps.Rep", verbose_name="首次触达业务员", null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="first_touch_visitors")
    first_touch_at = models.DateTimeField("首次触达时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "访客"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.nickname or self.openid


class Customer(BaseModel):
    """A restaurant. It belongs to the company; the rep is who looks after it now."""

    name = models.CharField("餐厅名称", max_length=80)
    contact_name = models.CharField("联系人", max_length=40, blank=True)
    phone = models.CharField("手机号", max_length=20, db_index=True)
    address = models.CharField("地址", max_length=200, blank=True)
    district = models.CharField("区", max_length=20, blank=True, db_index=True)
    # GCJ-02, as WeChat and Tencent Maps give it; never WGS-84 or BD-09.
    latitude = models.DecimalField(
        "纬度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(Decimal("-90")), MaxValueValidator(Decimal("90"))],
    )
    longitude = models.DecimalField(
        "经度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(Decimal("-180")), MaxValueValidator(Decimal("180"))],
    )
    rep = models.ForeignKey(
        "reps.Rep", verbose_name="业务员", null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    last_order_at = models.DateTimeField("最近下单", null=True, blank=True, db_index=True)
    # Who brought the restaurant in, and when; unlike `rep`, handovers never change it.
    acquired_by = models.ForeignKey("reps.Rep", verbose_name="开发业务员", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="acquired_customers")
    acquired_at = models.DateTimeField("开发时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "客户"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["latitude", "longitude"], name="customer_location_idx"),
            models.Index(fields=["rep", "-created_at"], name="customer_rep_recent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | (Q(latitude__gte=-90) & Q(latitude__lte=90)),
                name="customer_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | (Q(longitude__gte=-180) & Q(longitude__lte=180)),
                name="customer_longitude_range",
            ),
        ]

    def __str__(self):
        return self.name
