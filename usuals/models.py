"""我的常购: the settings row of the usual list, and what a customer pinned or hid."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.models import BaseModel

MAX_WINDOW_DAYS = 365  # the selector reads at most this far back, whatever the settings say


class UsualSettings(BaseModel):
    """One row (pk=1), edited in admin."""

    window_days = models.PositiveIntegerField(
        "统计窗口(天)", default=90, validators=[MinValueValidator(7), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text="按最近多少天的已付款订单计算常购商品")
    max_items = models.PositiveIntegerField("最多显示", default=50,
                                            validators=[MinValueValidator(1), MaxValueValidator(200)])
    # Lost-item alert (usuals.lost): the rule's numbers; the window is window_days above.
    lost_min_times = models.PositiveIntegerField(
        "断购提醒：最少购买次数", default=4, validators=[MinValueValidator(2), MaxValueValidator(100)],
        help_text="统计窗口内至少买过这么多次（订单数）才算常买")
    lost_multiplier = models.DecimalField(
        "断购提醒：间隔倍数", max_digits=4, decimal_places=1, default=Decimal("3.0"),
        validators=[MinValueValidator(Decimal("1.0")), MaxValueValidator(Decimal("20.0"))],
        help_text="超过该商品平时购买间隔的几倍没买即提醒业务员")
    lost_min_silence_days = models.PositiveIntegerField(
        "断购提醒：最短天数", default=14, validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="无论平时间隔多短，至少这么多天没买才提醒")
    # Reminder before the cut-off (usuals.reminders).
    reminder_lead_minutes = models.PositiveIntegerField(
        "截单提醒：提前(分钟)", default=120, validators=[MinValueValidator(10), MaxValueValidator(720)],
        help_text="在截单时间（下单规则）前多少分钟提醒")
    reminder_weeks = models.PositiveIntegerField(
        "截单提醒：看最近几周", default=6, validators=[MinValueValidator(1), MaxValueValidator(26)])
    reminder_min_weeks = models.PositiveIntegerField(
        "截单提醒：至少几周", default=3, validators=[MinValueValidator(1), MaxValueValidator(26)],
        help_text="最近几周里至少这么多周在同一星期几收过货，才算“通常这天要货”")

    class Meta:
        verbose_name = verbose_name_plural = "常购设置"

    def __str__(self):
        return f"最近 {self.window_days} 天"

    @classmethod
    def current(cls) -> "UsualSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class UsualMark(BaseModel):
    """A customer's choice about one product of the usual list: always show it, or never."""

    class State(models.TextChoices):
        PINNED = "pinned", "置顶"
        HIDDEN = "hidden", "隐藏"

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="usual_marks",
                                 db_index=False)  # usualmark_unique_product
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="usual_marks")
    state = models.CharField("状态", max_length=8, choices=State.choices)

    class Meta:
        verbose_name = verbose_name_plural = "常购标记"
        constraints = [models.UniqueConstraint(fields=["customer", "product"], name="usualmark_unique_product")]

    def __str__(self):
        return f"{self.customer_id}/{self.product_id} {self.get_state_display()}"


class LostItemAlert(models.Model):
    """A customer stopped buying a product they bought regularly (usuals.lost): one row per
    customer, product and last purchase, so it fires once until the product is bought again."""

    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                 related_name="lost_item_alerts", db_index=False)  # lostitem_once_per_purchase
    product = models.ForeignKey("catalog.Product", verbose_name="商品", on_delete=models.CASCADE,
                                related_name="lost_item_alerts")
    rep = models.ForeignKey("reps.Rep", verbose_name="业务员(当时)", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="lost_item_alerts")
    times = models.PositiveIntegerField("窗口内购买次数")
    first_bought_at = models.DateTimeField("窗口内首次购买")
    last_bought_at = models.DateTimeField("最近一次购买")
    usual_interval = models.DurationField("平时购买间隔")
    night = models.DateField("日期(北京时间)", db_index=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "断购提醒"
        ordering = ["-night", "-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "product", "last_bought_at"],
                                               name="lostitem_once_per_purchase")]

    def __str__(self):
        return f"{self.customer_id}/{self.product_id} {self.night}"


class CutoffReminder(models.Model):
    """A reminder sent before the cut-off (usuals.reminders): once per delivery day and never
    twice on one Shanghai day, both held by the database."""

    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                 related_name="cutoff_reminders")
    delivery_date = models.DateField("送达日期")
    sent_on = models.DateField("提醒日期(北京时间)")
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "截单提醒"
        ordering = ["-created_at", "-id"]
        constraints = [
            # Date first: the reminder task looks them up by the delivery day and by today.
            models.UniqueConstraint(fields=["delivery_date", "customer"], name="cutoffreminder_once_per_delivery"),
            models.UniqueConstraint(fields=["sent_on", "customer"], name="cutoffreminder_once_per_day"),
        ]

    def __str__(self):
        return f"{self.customer_id} → {self.delivery_date}"


class ReminderOptOut(models.Model):
    """A customer who asked for no reminder before the cut-off (the toggle on 我的常购)."""

    customer = models.OneToOneField("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                    related_name="reminder_opt_out")
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "截单提醒退订"
        ordering = ["-created_at"]

    def __str__(self):
        return str(self.customer_id)


class UsualHistory(models.Model):
    """我的常购's count of one customer's buying history, kept by its fast read (usuals.list_read)
    with the fingerprint of the orders it was counted from. Derived data: read only while the
    fingerprint still matches the customer's orders, recounted by the read otherwise, never edited.

    `bought` holds one object per product bought in the window: product_id, times (orders),
    last_bought (the last payment) and median (the lower median quantity)."""

    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.CASCADE,
                                    related_name="+", db_constraint=False)  # a read may write it as the row goes
    window_days = models.PositiveIntegerField("统计窗口(天)")
    orders = models.PositiveIntegerField("窗口内有效订单数")
    last_change = models.DateTimeField("窗口内订单最后更新", null=True)
    bought = models.JSONField("购买统计", default=list)
    counted_at = models.DateTimeField("统计时间")

    class Meta:
        verbose_name = verbose_name_plural = "常购统计"

    def __str__(self):
        return f"{self.customer_id} @ {self.counted_at:%Y-%m-%d %H:%M}"
