"""Coupons: a template (the terms), the coupons issued from it (one row per customer per issue)
and their redemptions (which order holds a coupon). The rules are in coupons.rules."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel


class CouponTemplate(BaseModel):
    """优惠券模板: 满减 (amount off from a minimum spend) or 折扣 (percent off, capped), valid on
    Shanghai days from/to (both inclusive), optionally only on some categories."""

    class Kind(models.TextChoices):
        AMOUNT = "amount", "满减券"
        PERCENT = "percent", "折扣券"

    name = models.CharField("名称", max_length=40)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices, default=Kind.AMOUNT)
    amount_off = models.DecimalField("减免金额(元)", max_digits=10, decimal_places=2, null=True, blank=True,
                                     validators=[MinValueValidator(Decimal("0.01"))], help_text="满减券：减多少")
    percent_off = models.DecimalField("折扣(%)", max_digits=5, decimal_places=2, null=True, blank=True,
                                      validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("99"))],
                                      help_text="折扣券：优惠百分比，10 即九折")
    max_discount = models.DecimalField("最多减(元)", max_digits=10, decimal_places=2, null=True, blank=True,
                                       validators=[MinValueValidator(Decimal("0.01"))], help_text="折扣券的封顶金额")
    min_spend = models.DecimalField("使用门槛(元)", max_digits=10, decimal_places=2, default=Decimal("0"),
                                    validators=[MinValueValidator(Decimal("0"))],
                                    help_text="适用商品金额满多少可用；0 为无门槛")
    valid_from = models.DateField("生效日期(北京时间)")
    valid_to = models.DateField("失效日期(北京时间，含当天)")
    per_customer_limit = models.PositiveSmallIntegerField("每位客户限领", default=1,
                                                          validators=[MinValueValidator(1)])
    categories = models.ManyToManyField("catalog.Category", verbose_name="限用品类", blank=True,
                                        related_name="coupon_templates",
                                        help_text="空为全场通用；选大类则含其下所有小类")
    is_active = models.BooleanField("启用", default=True, help_text="停用后已发出的券也不能再用")
    note = models.CharField("备注", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "优惠券模板"
        ordering = ["-valid_to", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="amount", amount_off__gt=0, percent_off__isnull=True, max_discount__isnull=True)
                           | Q(kind="percent", amount_off__isnull=True, percent_off__gt=0, percent_off__lt=100,
                               max_discount__gt=0)),
                name="coupontemplate_terms_match_kind"),
            models.CheckConstraint(condition=Q(valid_to__gte=models.F("valid_from")),
                                   name="coupontemplate_dates_in_order"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="coupontemplate_min_spend_not_negative"),
        ]

    def __str__(self):
        return self.name

    @property
    def terms(self) -> str:
        """满 ¥200 减 ¥20 / 9 折，最多减 ¥50 (what the customer reads)."""
        threshold = f"满 ¥{self.min_spend} " if self.min_spend else "无门槛 "
        if self.kind == self.Kind.AMOUNT:
            return f"{threshold}减 ¥{self.amount_off}"
        rate = (Decimal("100") - self.percent_off) / 10
        return f"{threshold}{rate.normalize():f} 折，最多减 ¥{self.max_discount}"


class CouponIssue(BaseModel):
    """One act of issuing: a template given to one customer, a list, or a segment."""

    template = models.ForeignKey(CouponTemplate, verbose_name="模板", on_delete=models.PROTECT,
                                 related_name="issues")
    audience = models.CharField("发放对象", max_length=120)
    issued_by = models.CharField("发放人", max_length=60, blank=True)
    issued_count = models.PositiveIntegerField("发出张数", default=0)
    skipped_count = models.PositiveIntegerField("超出限领未发", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "发券记录"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.template} → {self.audience}"


class Coupon(BaseModel):
    """One coupon in one customer's hands. Used = held by an order (a CouponRedemption not
    released); an unpaid order that expires or is cancelled releases it."""

    template = models.ForeignKey(CouponTemplate, verbose_name="模板", on_delete=models.PROTECT,
                                 related_name="coupons")
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                 related_name="coupons", db_index=False)  # coupon_customer_idx
    issue = models.ForeignKey(CouponIssue, verbose_name="发放", on_delete=models.PROTECT, related_name="coupons",
                              db_index=False)  # coupon_unique_per_issue

    class Meta:
        verbose_name = verbose_name_plural = "优惠券"
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["issue", "customer"], name="coupon_unique_per_issue")]
        indexes = [models.Index(fields=["customer", "template"], name="coupon_customer_idx")]

    def __str__(self):
        return f"{self.template} · {self.customer_id}"


class CouponRedemption(models.Model):
    """A coupon used by an order: written by checkout in its one write statement. At most one
    unreleased redemption per coupon (the database's rule: two checkouts racing with the same
    coupon, one order gets it) and one per order."""

    coupon = models.ForeignKey(Coupon, verbose_name="优惠券", on_delete=models.PROTECT, related_name="redemptions",
                               db_index=False)  # a coupon's history is short: the PROTECT check scans it
    order = models.ForeignKey("orders.Order", verbose_name="订单", on_delete=models.CASCADE,
                              related_name="coupon_redemptions", db_index=False)  # couponredemption_unique_order
    amount = models.DecimalField("优惠金额", max_digits=10, decimal_places=2)
    created_at = models.DateTimeField("使用时间")
    released_at = models.DateTimeField("退回时间", null=True, blank=True)
    release_reason = models.CharField("退回原因", max_length=100, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "用券记录"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["coupon"], condition=Q(released_at__isnull=True),
                                    name="couponredemption_unique_held"),
            models.UniqueConstraint(fields=["order"], name="couponredemption_unique_order"),
        ]

    def __str__(self):
        return f"{self.coupon_id} → {self.order_id}"
