"""Complaints (投诉): a customer's complaint about a delivery, a driver, a rep or the service, with
an owner, two deadlines, every reply and every escalation as audit rows.

Who complained is for the back office only: the driver or rep a complaint is about is stored
(`driver`, `rep`) for managers, and nothing here is ever read by the driver's or the rep's pages.
"""

from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel

from .rules import BusinessHours

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class ComplaintSettings(BaseModel):
    """Deadlines, business hours and escalation, edited in admin. One row (pk=1)."""

    first_response_hours = models.PositiveSmallIntegerField(
        "首次回复时限(工作小时)", default=2, validators=[MinValueValidator(1), MaxValueValidator(72)],
        help_text="只计工作日的营业时间")
    resolution_hours = models.PositiveSmallIntegerField(
        "解决时限(小时)", default=24, validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text="自提交起按自然小时计算")
    business_opens = models.TimeField("上班时间", default=time(9, 0))
    business_closes = models.TimeField("下班时间", default=time(18, 0))
    monday = models.BooleanField("周一上班", default=True)
    tuesday = models.BooleanField("周二上班", default=True)
    wednesday = models.BooleanField("周三上班", default=True)
    thursday = models.BooleanField("周四上班", default=True)
    friday = models.BooleanField("周五上班", default=True)
    saturday = models.BooleanField("周六上班", default=False)
    sunday = models.BooleanField("周日上班", default=False)
    escalation_repeat_minutes = models.PositiveIntegerField(
        "升级提醒间隔(分钟)", default=60, validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
        help_text="超时未回复/未解决的投诉，每隔这么久再提醒一次升级名单上的经理，直到回复/解决")
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="默认负责人", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="设置后所有新投诉由此人负责；不设置则在「投诉处理人员」中轮流分配")

    class Meta:
        verbose_name = verbose_name_plural = "投诉规则"
        ordering = ["id"]

    def __str__(self):
        return "投诉规则"

    @classmethod
    def current(cls) -> "ComplaintSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row

    def clean(self):
        if self.business_opens >= self.business_closes:
            raise ValidationError("上班时间须早于下班时间")
        if not any(getattr(self, day) for day in WEEKDAYS):
            raise ValidationError("至少选择一个工作日")

    def business_hours(self) -> BusinessHours:
        days = frozenset(number for number, day in enumerate(WEEKDAYS, start=1) if getattr(self, day))
        return BusinessHours(opens=self.business_opens, closes=self.business_closes, days=days)


class ComplaintStaff(BaseModel):
    """The escalation list and the owners' rota: who takes new complaints in turn, who is told
    when one is overdue (and at once for safety/harassment)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name="员工账号", on_delete=models.CASCADE,
                                related_name="complaint_staff")
    takes_complaints = models.BooleanField("轮流负责新投诉", default=True)
    escalations = models.BooleanField("接收超时升级(经理)", default=False)
    wecom_user_id = models.CharField("企业微信账号", max_length=64, blank=True,
                                     help_text="填写后经企业微信通知；否则只写入后台站内消息")
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "投诉处理人员"
        ordering = ["id"]

    def __str__(self):
        return self.user.get_username()


def overdue_q(now) -> Q:
    """The SQL form of rules.overdue_reason (tested to agree with it)."""
    return Q(resolved_at__isnull=True) & (Q(first_response_at__isnull=True, first_response_due__lte=now)
                                          | Q(resolution_due__lte=now))


class ComplaintQuerySet(models.QuerySet):
    def overdue(self, now):
        return self.filter(overdue_q(now))


class Complaint(BaseModel):
    class Category(models.TextChoices):
        DELIVERY = "delivery", "配送问题"
        DRIVER = "driver", "司机态度/行为"
        REP = "rep", "业务员"
        SERVICE = "service", "客服/服务"
        SAFETY = "safety", "人身安全/骚扰"
        OTHER = "other", "其他"

    class Status(models.TextChoices):
        OPEN = "open", "待回复"
        ANSWERED = "answered", "已回复，处理中"
        RESOLVED = "resolved", "已解决"

    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.PROTECT,
                                 related_name="complaints", db_index=False)  # complaint_customer_idx
    visitor = models.ForeignKey("customers.Visitor", verbose_name="投诉人(微信用户)", on_delete=models.PROTECT,
                                related_name="complaints")
    order = models.ForeignKey("orders.Order", verbose_name="订单", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="complaints")
    category = models.CharField("类别", max_length=12, choices=Category.choices)
    is_safety = models.BooleanField("涉及安全/骚扰", default=False)
    text = models.CharField("投诉内容", max_length=500)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="负责人", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="complaints_owned")
    # Whom it is about, when the order says so: for managers only, never shown to that person.
    driver = models.ForeignKey("logistics.Driver", verbose_name="涉及司机", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    rep = models.ForeignKey("reps.Rep", verbose_name="涉及业务员", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    first_response_due = models.DateTimeField("首次回复截止")
    resolution_due = models.DateTimeField("解决截止")
    first_response_at = models.DateTimeField("首次回复时间", null=True, blank=True)
    resolved_at = models.DateTimeField("解决时间", null=True, blank=True)
    escalation_round = models.PositiveIntegerField("已升级次数", default=0)
    last_escalated_at = models.DateTimeField("最近升级", null=True, blank=True)
    next_escalation_at = models.DateTimeField("下次升级", null=True, blank=True)

    objects = ComplaintQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "投诉"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="complaint_customer_idx"),
            models.Index(fields=["first_response_due"], condition=Q(resolved_at__isnull=True),
                         name="complaint_unresolved_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status="resolved", resolved_at__isnull=False)
                                   | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                                   name="complaint_resolved_has_time"),
        ]

    def __str__(self):
        return f"投诉 #{self.pk}"


def _photo_path(instance, filename):
    return f"complaints/{instance.complaint_id}/{filename}"


class ComplaintPhoto(models.Model):
    """A photo as stored: aftersales.photos' checks and re-encoding (no EXIF), a random name."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField("照片", upload_to=_photo_path)
    width = models.PositiveIntegerField("宽")
    height = models.PositiveIntegerField("高")
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "投诉照片"
        ordering = ["id"]

    def __str__(self):
        return self.image.name


class ComplaintEvent(models.Model):
    """Every step, who took it and when: the audit trail. The customer reads the public kinds."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "客户提交投诉"
        ASSIGNED = "assigned", "分配负责人"
        REPLY = "reply", "客服回复"
        RESOLVED = "resolved", "已解决"
        ESCALATED = "escalated", "超时升级"
        SAFETY_ALERT = "safety_alert", "安全/骚扰投诉，已通知经理"

    PUBLIC = (Kind.SUBMITTED, Kind.REPLY, Kind.RESOLVED)

    complaint = models.ForeignKey(Complaint, verbose_name="投诉", on_delete=models.CASCADE, related_name="events")
    kind = models.CharField("操作", max_length=14, choices=Kind.choices)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="处理人", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    actor = models.CharField("操作方", max_length=60)
    message = models.CharField("内容", max_length=500, blank=True)
    round = models.PositiveIntegerField("升级轮次", null=True, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "投诉处理记录"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["complaint", "created_at"], name="complaint_event_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.actor}"
