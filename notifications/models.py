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
        # WeChat sends a subscribe message only against an acceptance of its template; none was
        # left (SubscribeConsent), so it was not sent. Final: never retried, never an error.
        NO_CONSENT = "no_consent", "未订阅，未发送"
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


class SubscribeConsent(models.Model):
    """A WeChat user's acceptances of one subscribe-message template, as WeChat counts them.

    `wx.requestSubscribeMessage` answers accept / reject / ban / filter per template; each
    `accept` of a one-time template lets us send that user ONE message of it, with no time limit
    (WECHAT.md §3; long-term subscriptions are not open to a seafood distributor, and "总是保持以上
    选择" only stops WeChat asking again: each later call still grants one). So `available` counts
    acceptances not yet spent: +1 per accept (notifications.consent.consent_record), −1 by the
    outbox's conditional UPDATE just before it sends (consent_take), never below 0.

    Keyed by OpenID, not by customer: WeChat counts per WeChat user, and a message goes to the
    OpenID of the person who ordered.
    """

    class Result(models.TextChoices):
        ACCEPT = "accept", "同意"
        REJECT = "reject", "拒绝"
        BAN = "ban", "已被后台封禁"
        FILTER = "filter", "被过滤（同名模板）"

    openid = models.CharField("OpenID", max_length=64)
    template = models.CharField("模板", max_length=40)
    available = models.PositiveIntegerField("可发送次数", default=0)
    accepted_total = models.PositiveIntegerField("累计同意次数", default=0)
    sent_total = models.PositiveIntegerField("累计已用次数", default=0)
    last_result = models.CharField("最近一次选择", max_length=8, choices=Result.choices, blank=True)
    last_result_at = models.DateTimeField("最近一次选择时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "订阅消息授权"
        ordering = ["-last_result_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["openid", "template"], name="subscribe_consent_once_per_user_template"),
            models.CheckConstraint(condition=Q(available__gte=0), name="subscribe_consent_available_not_negative"),
        ]

    def __str__(self):
        return f"{self.openid} · {self.template} · {self.available}"
