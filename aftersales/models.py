"""After-sales (售后): a customer's request about a delivered order, its lines, photos, and every
decision staff make on it (the audit trail the customer reads as replies).

A request is about lines of one order; a line may be in one open request at a time (a partial
unique constraint on the lines of open requests). Money decided here is refunded through
orders.services.refund_create, under the order's lock, never above what is left to refund.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel


class AfterSalesSettings(BaseModel):
    """The after-sales window per storage kind, edited in admin. One row (pk=1)."""

    frozen_window_hours = models.PositiveIntegerField(
        "冷冻商品售后时限(小时)", default=72, validators=[MinValueValidator(1), MaxValueValidator(24 * 90)],
        help_text="自送达起计算")
    chilled_window_hours = models.PositiveIntegerField(
        "冷藏商品售后时限(小时)", default=72, validators=[MinValueValidator(1), MaxValueValidator(24 * 90)])
    ambient_window_hours = models.PositiveIntegerField(
        "常温(干货)售后时限(小时)", default=72, validators=[MinValueValidator(1), MaxValueValidator(24 * 90)])

    class Meta:
        verbose_name = verbose_name_plural = "售后规则"
        ordering = ["id"]

    def __str__(self):
        return "售后规则"

    @classmethod
    def current(cls) -> "AfterSalesSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row

    def window_hours(self, storage: str) -> int:
        return {"frozen": self.frozen_window_hours, "chilled": self.chilled_window_hours,
                "ambient": self.ambient_window_hours}.get(storage, self.frozen_window_hours)


class AfterSalesRequest(BaseModel):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "待处理"
        NEEDS_MORE_INFO = "needs_more_info", "待补充照片"
        APPROVED = "approved", "已同意退款"
        PARTIALLY_APPROVED = "partially_approved", "部分同意退款"
        REJECTED = "rejected", "已拒绝"
        # The approval's refund reached the customer (REFUND.SUCCESS or the refund poll).
        REFUNDED = "refunded", "已退款"

    class Reason(models.TextChoices):
        SHORT_WEIGHT = "short_weight", "短斤少两"
        DAMAGED = "damaged", "破损/解冻"
        WRONG_ITEM = "wrong_item", "发错货"
        MISSING = "missing", "漏发"
        QUALITY = "quality", "质量问题"

    OPEN = (Status.SUBMITTED, Status.NEEDS_MORE_INFO)

    order = models.ForeignKey("orders.Order", verbose_name="订单", on_delete=models.PROTECT,
                              related_name="aftersales_requests")
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.PROTECT,
                                 related_name="aftersales_requests", db_index=False)  # aftersales_customer_idx
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    reason = models.CharField("原因", max_length=16, choices=Reason.choices)
    note = models.CharField("说明", max_length=300, blank=True)
    claimed_amount = models.DecimalField("申请金额", max_digits=12, decimal_places=2)
    refunded_amount = models.DecimalField("同意退款", max_digits=12, decimal_places=2, default=Decimal("0"))
    decided_at = models.DateTimeField("处理时间", null=True, blank=True)
    refunded_at = models.DateTimeField("退款到账时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "售后申请"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="aftersales_customer_idx"),
            models.Index(fields=["status", "created_at"], name="aftersales_queue_idx"),
        ]

    def __str__(self):
        return f"售后 #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class AfterSalesLine(models.Model):
    """One order line claimed: a quantity in the line's unit, or (catch-weight lines) a weight in 斤."""

    request = models.ForeignKey(AfterSalesRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", verbose_name="订单明细", on_delete=models.PROTECT,
                                   related_name="aftersales_lines")
    quantity = models.DecimalField("申请数量", max_digits=10, decimal_places=2, null=True, blank=True)
    weight = models.DecimalField("申请重量(斤)", max_digits=10, decimal_places=2, null=True, blank=True)
    claimed_amount = models.DecimalField("申请金额", max_digits=12, decimal_places=2)
    approved_amount = models.DecimalField("同意金额", max_digits=12, decimal_places=2, default=Decimal("0"))
    returned_quantity = models.DecimalField("退回入库数量", max_digits=10, decimal_places=2, default=Decimal("0"))
    # Mirrors the request's status (a partial unique constraint cannot look at another table).
    is_open = models.BooleanField("处理中", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "售后明细"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order_line"], condition=Q(is_open=True),
                                    name="aftersales_one_open_request_per_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0) | Q(weight__gt=0), name="aftersales_line_claims"),
            models.CheckConstraint(condition=Q(approved_amount__lte=models.F("claimed_amount")),
                                   name="aftersales_line_approved_within_claim"),
        ]

    def __str__(self):
        return f"{self.order_line.product_name} {self.claim_text}"

    @property
    def claim_text(self) -> str:
        if self.weight:
            return f"{self.weight.normalize():f}斤"
        return f"{self.quantity.normalize():f}{self.order_line.unit}"


def _photo_path(instance, filename):
    return f"aftersales/{instance.request_id}/{filename}"


class AfterSalesPhoto(models.Model):
    """A photo as stored: decoded, re-encoded (no EXIF), within the size limits."""

    request = models.ForeignKey(AfterSalesRequest, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField("照片", upload_to=_photo_path)
    width = models.PositiveIntegerField("宽")
    height = models.PositiveIntegerField("高")
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "售后照片"
        ordering = ["id"]

    def __str__(self):
        return self.image.name


class AfterSalesDecision(models.Model):
    """Every step of after-sales, who took it and when: the audit trail and the customer's replies.

    A goodwill refund has no request: it names the order only.
    """

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "客户提交申请"
        PHOTOS_ADDED = "photos_added", "客户补充照片"
        APPROVED = "approved", "同意退款"
        PARTIALLY_APPROVED = "partially_approved", "部分同意退款"
        REJECTED = "rejected", "拒绝"
        MORE_INFO = "more_info", "请补充照片"
        GOODWILL = "goodwill", "补偿退款"

    class Goods(models.TextChoices):
        NONE = "", "—"
        RETURNED = "returned", "退回入库"
        WRITTEN_OFF = "written_off", "报损(不退回)"

    order = models.ForeignKey("orders.Order", verbose_name="订单", on_delete=models.PROTECT,
                              related_name="aftersales_decisions")
    request = models.ForeignKey(AfterSalesRequest, verbose_name="售后申请", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="decisions")
    kind = models.CharField("操作", max_length=20, choices=Kind.choices)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="处理人", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    actor = models.CharField("操作方", max_length=60)
    amount = models.DecimalField("退款金额", max_digits=12, decimal_places=2, null=True, blank=True)
    refund = models.ForeignKey("orders.Refund", verbose_name="退款单", null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    goods = models.CharField("货物处理", max_length=12, choices=Goods.choices, blank=True, default="")
    message = models.CharField("给客户的说明", max_length=300, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "售后处理记录"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="aftersales_decision_order_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.actor}"
