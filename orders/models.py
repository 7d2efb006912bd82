import uuid
from datetime import time
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel


class OrderSettings(BaseModel):
    """The rules of ordering, edited in admin. One row (pk=1); `OrderSettings.current()` reads it."""

    cutoff_time = models.TimeField("截单时间(北京时间)", default=time(23, 0),
                                   help_text="此时间前付款的订单次日送达，之后的隔日送达")
    min_order_amount = models.DecimalField("起送金额(元)", max_digits=10, decimal_places=2, default=Decimal("100.00"),
                                           validators=[MinValueValidator(Decimal("0"))])
    delivery_fee = models.DecimalField("配送费(元)", max_digits=10, decimal_places=2, default=Decimal("10.00"),
                                       validators=[MinValueValidator(Decimal("0"))])
    free_delivery_threshold = models.DecimalField(
        "满额免配送费(元)", max_digits=10, decimal_places=2, default=Decimal("300.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    payment_timeout_minutes = models.PositiveIntegerField("未付款自动取消(分钟)", default=15,
                                                          validators=[MinValueValidator(2)])

    class Meta:
        verbose_name = verbose_name_plural = "下单规则"
        ordering = ["id"]

    def __str__(self):
        return "下单规则"

    @classmethod
    def current(cls) -> "OrderSettings":
        settings_row, _ = cls.objects.get_or_create(pk=1)
        return settings_row


class OrderQuerySet(models.QuerySet):
    def for_customer(self, customer_id):
        return self.filter(customer_id=customer_id)

    def paid(self):
        return self.exclude(paid_at__isnull=True)

    def first_paid(self):
        """Paid orders that are their customer's first: no paid order of the customer before them
        (one index probe each, on order_customer_paid_idx). The company dashboard's new customers
        and the rep dashboard's 首单."""
        earlier = Order.objects.filter(customer=models.OuterRef("customer"), paid_at__isnull=False,
                                       paid_at__lt=models.OuterRef("paid_at"))
        return self.paid().filter(~models.Exists(earlier))


class Order(BaseModel):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "待付款"
        PAID = "paid", "已付款"
        PACKING = "packing", "备货中"
        PACKED = "packed", "已打包"
        OUT_FOR_DELIVERY = "out_for_delivery", "配送中"
        DELIVERED = "delivered", "已送达"
        COMPLETED = "completed", "已完成"
        CANCELLED = "cancelled", "已取消"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField("订单号", max_length=20)  # unique: order_unique_number
    # No single-column indexes where a composite one below starts with the column: every index
    # is written on each checkout, the hottest write of the product.
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.PROTECT,
                                 related_name="orders", db_index=False)
    visitor = models.ForeignKey("customers.Visitor", verbose_name="下单微信", on_delete=models.PROTECT,
                                related_name="orders", db_index=False)
    rep = models.ForeignKey("reps.Rep", verbose_name="业务员(下单时)", null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="orders", db_index=False)
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT)
    idempotency_key = models.CharField("幂等键", max_length=64)
    delivery_date = models.DateField("送达日期")

    subtotal = models.DecimalField("商品金额", max_digits=12, decimal_places=2)
    delivery_fee = models.DecimalField("配送费", max_digits=10, decimal_places=2, default=Decimal("0"))
    discount = models.DecimalField("优惠", max_digits=10, decimal_places=2, default=Decimal("0"))
    total = models.DecimalField("应付金额", max_digits=12, decimal_places=2)

    # The delivery address as it was when the order was placed.
    restaurant_name = models.CharField("餐厅", max_length=80)
    contact_name = models.CharField("收货人", max_length=40)
    phone = models.CharField("电话", max_length=20)
    address = models.CharField("地址", max_length=200)
    district = models.CharField("区", max_length=20, blank=True)
    latitude = models.DecimalField("纬度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField("经度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)

    expires_at = models.DateTimeField("付款截止")
    paid_at = models.DateTimeField("付款时间", null=True, blank=True)
    cancelled_at = models.DateTimeField("取消时间", null=True, blank=True)
    cancel_reason = models.CharField("取消原因", max_length=100, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "订单"
        ordering = ["-created_at"]
        constraints = [
            # A constraint rather than unique=True, which on PostgreSQL also builds a second,
            # pattern-matching index that no query here uses.
            models.UniqueConstraint(fields=["number"], name="order_unique_number"),
            models.UniqueConstraint(fields=["visitor", "idempotency_key"], name="order_unique_idempotency_key"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(
                condition=Q(total=models.F("subtotal") + models.F("delivery_fee") - models.F("discount")),
                name="order_total_adds_up",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_recent_idx"),
            models.Index(fields=["status", "expires_at"], name="order_status_expiry_idx"),
            models.Index(fields=["delivery_date", "status"], name="order_delivery_idx"),
            models.Index(fields=["rep", "-paid_at"], name="order_rep_paid_idx"),
            # A customer's last paid order (churn alerts link to it; reorder and the rep read it).
            models.Index(fields=["customer", "-paid_at"], condition=Q(paid_at__isnull=False),
                         name="order_customer_paid_idx"),
            # Paid orders by payment time: the company dashboard's ranges of days (dashboard.selectors).
            # Partial, so a checkout's INSERT (paid_at still NULL) does not write it; payment does.
            models.Index(fields=["paid_at"], condition=Q(paid_at__isnull=False), name="order_paid_idx"),
        ]

    def __str__(self):
        return self.number


class OrderLine(models.Model):
    """What was bought, copied from the product at the time of ordering."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)  # orderline_unique_product
    product = models.ForeignKey("catalog.Product", verbose_name="商品", on_delete=models.PROTECT,
                                related_name="order_lines")
    product_code = models.CharField("SKU 编码", max_length=32)
    product_name = models.CharField("名称", max_length=80)
    spec = models.CharField("规格", max_length=40, blank=True)
    unit = models.CharField("单位", max_length=4)
    unit_price = models.DecimalField("单价", max_digits=10, decimal_places=2)
    # The catalogue's list price when ordered, and the price list that made unit_price (none: list price).
    list_price = models.DecimalField("目录价", max_digits=10, decimal_places=2, null=True, blank=True)
    price_list = models.ForeignKey("catalog.PriceList", verbose_name="价目表", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="order_lines", db_index=False)
    price_list_name = models.CharField("价目表名称", max_length=40, blank=True, default="", db_default="")
    quantity = models.DecimalField("数量", max_digits=10, decimal_places=2)
    amount = models.DecimalField("金额", max_digits=12, decimal_places=2)
    # The line's share of the order's discount (a coupon), allocated at checkout; refunds of the
    # line are prorated from amount − discount (orders.rules.line_refundable).
    discount = models.DecimalField("优惠分摊", max_digits=12, decimal_places=2, default=Decimal("0"),
                                   db_default=Decimal("0"))
    catch_weight = models.BooleanField("按实重计价", default=False)
    nominal_weight = models.DecimalField("标称重量(斤)", max_digits=8, decimal_places=2, null=True, blank=True)
    # Filled at packing: what actually went into the box, and what it costs at that weight.
    packed_quantity = models.DecimalField("实发数量", max_digits=10, decimal_places=2, null=True, blank=True)
    actual_weight = models.DecimalField("实重(斤)", max_digits=10, decimal_places=2, null=True, blank=True)
    actual_amount = models.DecimalField("实际金额", max_digits=12, decimal_places=2, null=True, blank=True)
    packed_at = models.DateTimeField("打包时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "订单明细"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gt=0), name="orderline_price_positive"),
            models.CheckConstraint(condition=Q(discount__gte=0) & Q(discount__lte=models.F("amount")),
                                   name="orderline_discount_within_amount"),
            models.UniqueConstraint(fields=["order", "product"], name="orderline_unique_product"),
        ]

    def __str__(self):
        return f"{self.product_name} × {self.quantity}"


class OrderEvent(models.Model):
    """The audit trail: every status change, written in the same transaction as the change."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", db_index=False)  # orderevent_order_time_idx
    from_status = models.CharField("原状态", max_length=20, blank=True)
    to_status = models.CharField("新状态", max_length=20)
    note = models.CharField("说明", max_length=200, blank=True)
    actor = models.CharField("操作方", max_length=60, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "订单动态"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="orderevent_order_time_idx")]

    # Who wrote the event: these codes, or a staff login / "送货司机 <name>" written as is.
    ACTOR_LABELS = {"customer": "客户", "wechatpay": "微信支付", "system": "系统", "warehouse": "仓库",
                    "driver": "司机", "staff": "员工"}

    def __str__(self):
        return self.transition_label

    @property
    def transition_label(self) -> str:
        """"待付款 → 已付款" (the status labels, as the customer reads them)."""
        to_label = _status_label(self.to_status)
        if not self.from_status:
            return to_label
        if self.from_status == self.to_status:
            return f"{to_label}（状态不变）"
        return f"{_status_label(self.from_status)} → {to_label}"

    @property
    def actor_label(self) -> str:
        return self.ACTOR_LABELS.get(self.actor, self.actor)


def _status_label(code: str) -> str:
    return Order.Status(code).label if code in Order.Status.values else code


class Payment(BaseModel):
    """The WeChat Pay transaction of an order. Amounts in fen, as WeChat Pay counts them."""

    class Status(models.TextChoices):
        CREATED = "created", "待支付"
        SUCCEEDED = "succeeded", "支付成功"
        CLOSED = "closed", "已关闭"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="payment")
    out_trade_no = models.CharField("商户订单号", max_length=32)  # unique: payment_unique_out_trade_no
    amount_fen = models.PositiveIntegerField("金额(分)")
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.CREATED)
    transaction_id = models.CharField("微信支付单号", max_length=32, null=True, blank=True)  # unique, below
    payer_openid = models.CharField("付款 OpenID", max_length=64, blank=True)
    succeeded_at = models.DateTimeField("支付时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "支付"
        ordering = ["-created_at"]
        constraints = [  # not unique=True: see Order.Meta
            models.UniqueConstraint(fields=["out_trade_no"], name="payment_unique_out_trade_no"),
            models.UniqueConstraint(fields=["transaction_id"], name="payment_unique_transaction_id"),
        ]

    def __str__(self):
        return self.out_trade_no


class PaymentNotification(models.Model):
    """Each verified notification from WeChat Pay, once (WeChat retries and duplicates them)."""

    notification_id = models.CharField("通知 ID", max_length=64, unique=True)
    event_type = models.CharField("事件", max_length=32)
    out_trade_no = models.CharField("商户订单号", max_length=32, db_index=True)
    outcome = models.CharField("处理结果", max_length=40)
    received_at = models.DateTimeField("收到时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "支付通知"
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.event_type} {self.out_trade_no}"


class Refund(BaseModel):
    class Status(models.TextChoices):
        PENDING = "pending", "待提交"
        PROCESSING = "processing", "退款中"
        SUCCEEDED = "succeeded", "已退款"
        FAILED = "failed", "失败"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField("退款单号", max_length=64, unique=True)
    amount = models.DecimalField("退款金额", max_digits=12, decimal_places=2)
    reason = models.CharField("原因", max_length=80)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.PENDING)
    refund_id = models.CharField("微信退款单号", max_length=64, blank=True)
    succeeded_at = models.DateTimeField("退款时间", null=True, blank=True)
    last_error = models.CharField("最近错误", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "退款"
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self):
        return self.out_refund_no
