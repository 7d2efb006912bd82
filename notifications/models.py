from django.db import models
from django.db.models import Q


class Notification(models.Model):
    """The outbox. A row is written in the same transaction as the event that causes it, and
    sent after commit; a periodic task sends what is still pending (a broker outage loses nothing).

    Unique per (event, recipient, channel): the same event can never notify the same person twice.
    """

    class Channel(models.TextChoices):
        SUBSCRIBE = "subscribe", "微信订阅消息"
        WECOM = "wecom", "企业微信"
        INBOX = "inbox", "站内消息"

    class Recipient(models.TextChoices):
        CUSTOMER = "customer", "客户"
        REP = "rep", "业务员"
        DRIVER = "driver", "司机"
        STAFF = "staff", "员工"

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        SKIPPED = "skipped", "不可发送"
        FAILED = "failed", "发送失败"
        UNKNOWN = "unknown", "结果未知"

    event_key = models.CharField("事件", max_length=120)
    recipient_kind = models.CharField("接收方", max_length=10, choices=Recipient.choices)
    recipient_id = models.CharField("接收方 ID", max_length=64)
    address = models.CharField("地址(OpenID/企业微信账号)", max_length=64, blank=True)
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    template = models.CharField("模板", max_length=40)
    title = models.CharField("标题", max_length=60)
    body = models.CharField("内容", max_length=500, blank=True)
    data = models.JSONField("字段", default=dict, blank=True)
    link = models.CharField("链接", max_length=255, blank=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试")
    claimed_at = models.DateTimeField("开始发送", null=True, blank=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    read_at = models.DateTimeField("阅读时间", null=True, blank=True)
    last_error = models.CharField("最近错误", max_length=300, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "消息通知"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_key", "recipient_kind", "recipient_id", "channel"],
                                    name="notification_once_per_event_recipient_channel"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="notification_due_idx"),
            models.Index(fields=["recipient_kind", "recipient_id", "-created_at"], name="notification_inbox_idx"),
        ]

    def __str__(self):
        return f"{self.title} → {self.recipient_kind}:{self.recipient_id}"
