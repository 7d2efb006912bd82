"""State kept by the `dev` backend, which plays the WeChat Pay server. The real backend stores nothing here."""

from django.db import models


class DevPayTransaction(models.Model):
    class State(models.TextChoices):
        NOTPAY = "NOTPAY", "未支付"
        SUCCESS = "SUCCESS", "支付成功"
        CLOSED = "CLOSED", "已关闭"
        REFUND = "REFUND", "转入退款"

    out_trade_no = models.CharField(max_length=32)  # unique, below
    appid = models.CharField(max_length=32)
    mchid = models.CharField(max_length=32)
    description = models.CharField(max_length=127)
    amount_fen = models.PositiveIntegerField()
    openid = models.CharField(max_length=64)
    notify_url = models.CharField(max_length=255)
    attach = models.CharField(max_length=128, blank=True)
    time_expire = models.DateTimeField(null=True, blank=True)
    prepay_id = models.CharField(max_length=64)  # unique, below
    state = models.CharField(max_length=8, choices=State.choices, default=State.NOTPAY)
    transaction_id = models.CharField(max_length=32, blank=True)
    success_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "模拟微信支付交易"
        ordering = ["-created_at"]
        # Constraints rather than unique=True, which on PostgreSQL adds pattern-matching indexes
        # nobody uses, written on every prepay.
        constraints = [
            models.UniqueConstraint(fields=["out_trade_no"], name="devpay_unique_out_trade_no"),
            models.UniqueConstraint(fields=["prepay_id"], name="devpay_unique_prepay_id"),
        ]

    def __str__(self):
        return self.out_trade_no


class DevRefund(models.Model):
    out_refund_no = models.CharField(max_length=64, unique=True)
    out_trade_no = models.CharField(max_length=32, db_index=True)
    refund_id = models.CharField(max_length=32, unique=True)
    amount_fen = models.PositiveIntegerField()
    total_fen = models.PositiveIntegerField()
    reason = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=12, default="SUCCESS")
    notify_url = models.CharField(max_length=255, blank=True)  # where its REFUND.* notification goes
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "模拟微信退款"
        ordering = ["-created_at"]

    def __str__(self):
        return self.out_refund_no


class DevMessage(models.Model):
    """A message the dev backend 'delivered': a subscribe message to a WeChat user, or a WeCom
    message to a member of staff. The mini-site shows a customer's own as WeChat's service notices."""

    class Kind(models.TextChoices):
        SUBSCRIBE = "subscribe", "订阅消息"
        WECOM = "wecom", "企业微信消息"
        WECOM_WELCOME = "wecom_welcome", "企业微信欢迎语"
        # The dev WeCom's own records: a customer's profile (externalcontact/get) and a transfer.
        WECOM_CONTACT = "wecom_contact", "企业微信外部联系人"
        WECOM_TRANSFER = "wecom_transfer", "企业微信客户转接"
        WECOM_CONTACT_WAY = "wecom_way", "企业微信联系我二维码"
        WECOM_TAG = "wecom_tag", "企业微信企业标签"
        WECOM_MARK = "wecom_mark", "企业微信客户打标签"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    to = models.CharField(max_length=64, db_index=True)
    template_id = models.CharField(max_length=64, blank=True)
    page = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "模拟微信消息"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind} → {self.to}"
