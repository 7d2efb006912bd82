"""Campaigns: a message (text, a mini-site link, optionally a coupon) sent once to a saved segment,
through WeChat subscribe messages or as rep tasks; one row per customer reached or not (and why),
and the per-customer monthly cap that holds across campaigns. The rules are in campaigns.rules."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel


class CampaignSettings(BaseModel):
    """营销设置: how many campaign messages one customer may get in a Shanghai calendar month, across
    all campaigns. One row (pk=1)."""

    monthly_cap = models.PositiveSmallIntegerField(
        "每位客户每月最多收到", default=4, validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="按北京时间自然月，所有活动合计（订阅消息与业务员群发都算）。"
                  "企业微信现行规则：每位客户每天最多收到 1 条群发（每月不超过当月天数）")

    class Meta:
        verbose_name = verbose_name_plural = "营销设置"
        ordering = ["id"]

    def __str__(self):
        return "营销设置"

    @classmethod
    def current(cls) -> "CampaignSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class Campaign(BaseModel):
    class Channel(models.TextChoices):
        SUBSCRIBE = "subscribe", "微信订阅消息（已订阅的客户）"
        REP_TASK = "rep_task", "业务员群发任务（业务员确认后发送）"

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"

    name = models.CharField("活动名称", max_length=40)
    channel = models.CharField("发送方式", max_length=10, choices=Channel.choices, default=Channel.REP_TASK)
    segment = models.ForeignKey("crm.Segment", verbose_name="客户分群", on_delete=models.PROTECT,
                                related_name="campaigns", help_text="发送时按分群条件重新计算客户")
    title = models.CharField("标题", max_length=20, help_text="订阅消息的标题（20 字以内）")
    text = models.CharField("内容", max_length=300, help_text="业务员发给客户的话 / 订阅消息的内容")
    link = models.CharField("小程序链接", max_length=200, default="/shop/",
                            help_text="站内页面路径，如 /shop/ 或 /shop/coupons/；每位客户收到的是可追踪的专属链接")
    coupon_template = models.ForeignKey("coupons.CouponTemplate", verbose_name="随活动发放的优惠券", null=True,
                                        blank=True, on_delete=models.PROTECT, related_name="campaigns",
                                        help_text="可选：发送时给收到消息的客户各发一张")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.DRAFT)
    segment_count = models.PositiveIntegerField("发送时分群人数", null=True, blank=True)
    coupon_issue = models.OneToOneField("coupons.CouponIssue", verbose_name="发券记录", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="campaign")
    send_requested_at = models.DateTimeField("点击发送时间", null=True, blank=True)
    sent_at = models.DateTimeField("发送完成时间", null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="创建人", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="发送人", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = verbose_name_plural = "营销活动"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        from .rules import link_problem

        problem = link_problem(self.link)
        if problem:
            raise ValidationError({"link": problem})


class CampaignRecipient(models.Model):
    """One customer of the campaign's segment, as evaluated when the campaign was sent (so the
    count staff saw is exactly the rows here), and what became of them."""

    class Status(models.TextChoices):
        SELECTED = "selected", "待处理"
        QUEUED = "queued", "已交订阅消息发送"
        PENDING = "pending", "待业务员发送"
        SENT = "sent", "业务员已发送"
        SKIPPED_CAP = "skipped_cap", "未发：本月已达上限"
        NO_CONSENT = "no_consent", "未发：未订阅"
        NO_REP = "no_rep", "未发：没有业务员"

    campaign = models.ForeignKey(Campaign, verbose_name="活动", on_delete=models.CASCADE, related_name="recipients",
                                 db_index=False)  # campaignrecipient_unique
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                 related_name="campaign_receipts", db_index=False)  # campaignrecipient_customer_idx
    rep = models.ForeignKey("reps.Rep", verbose_name="业务员(发送时)", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+", db_index=False)  # campaignrecipient_rep_idx
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.SELECTED)
    notification = models.OneToOneField("notifications.Notification", verbose_name="订阅消息", null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+")
    sent_at = models.DateTimeField("业务员发送时间", null=True, blank=True)
    first_opened_at = models.DateTimeField("首次打开", null=True, blank=True)
    open_count = models.PositiveIntegerField("打开次数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "活动客户"
        ordering = ["campaign_id", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaignrecipient_unique")]
        indexes = [
            models.Index(fields=["customer", "campaign"], name="campaignrecipient_customer_idx"),
            models.Index(fields=["rep", "status"], condition=Q(rep__isnull=False), name="campaignrecipient_rep_idx"),
        ]

    def __str__(self):
        return f"{self.campaign_id}:{self.customer_id}"


class MonthlyContact(models.Model):
    """How many campaign messages a customer was given in a Shanghai calendar month (the cap's
    counter). Taken by one INSERT … ON CONFLICT DO UPDATE … WHERE count < cap per batch
    (campaigns.services), so two campaigns sending at once can never pass the cap."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField("月份(北京时间，每月 1 日)")
    count = models.PositiveSmallIntegerField("本月已发", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "客户每月营销消息数"
        ordering = ["-month", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["customer", "month"], name="monthlycontact_unique")]

    def __str__(self):
        return f"{self.customer_id}:{self.month:%Y-%m}:{self.count}"
