"""我的常购: the settings row of the usual list, and what a customer pinned or hid."""

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
