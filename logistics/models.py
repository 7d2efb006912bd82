from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from core.models import BaseModel

from .storage import proof_storage


class Supplier(BaseModel):
    name = models.CharField("名称", max_length=80, unique=True)
    contact_name = models.CharField("联系人", max_length=40, blank=True)
    phone = models.CharField("电话", max_length=20, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    latitude = models.DecimalField("纬度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField("经度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True)
    is_active = models.BooleanField("合作中", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "供应商"
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class StockQuerySet(models.QuerySet):
    def with_available(self):
        """Annotated as `available_quantity` (`available` is the model's property)."""
        return self.annotate(available_quantity=F("on_hand") - F("reserved"))


class Stock(BaseModel):
    """Stock of one SKU. Changed only by logistics services, always together with a ledger row."""

    product = models.OneToOneField("catalog.Product", verbose_name="商品", on_delete=models.CASCADE, related_name="stock")
    on_hand = models.DecimalField("在库", max_digits=12, decimal_places=2, default=Decimal("0"))
    reserved = models.DecimalField("已预留", max_digits=12, decimal_places=2, default=Decimal("0"))
    # Moving average cost per sale unit, updated at each receipt; shipments are valued at it.
    average_cost = models.DecimalField("平均成本", max_digits=12, decimal_places=4, default=Decimal("0"))

    objects = StockQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "库存"
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]

    def __str__(self):
        return f"{self.product_id}: {self.on_hand}"

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved


class StockMove(models.Model):
    """The stock ledger: every change of on-hand or reserved stock is one row here.

    On-hand stock always equals the sum of `on_hand_delta`; reserved stock the sum of `reserved_delta`.
    """

    class Kind(models.TextChoices):
        OPENING = "opening", "期初"
        RECEIPT = "receipt", "入库"
        ADJUSTMENT = "adjustment", "盘点调整"
        RESERVATION = "reservation", "下单预留"
        RELEASE = "release", "释放预留"
        SHIPMENT = "shipment", "出库"
        RETURN = "return", "售后退回"

    stock = models.ForeignKey(Stock, verbose_name="库存", on_delete=models.PROTECT, related_name="moves",
                              db_index=False)  # stockmove_stock_time_idx
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    on_hand_delta = models.DecimalField("在库变化", max_digits=12, decimal_places=2, default=Decimal("0"))
    reserved_delta = models.DecimalField("预留变化", max_digits=12, decimal_places=2, default=Decimal("0"))
    reference = models.CharField("关联单据", max_length=64, blank=True)
    unit_cost = models.DecimalField("单位成本", max_digits=12, decimal_places=4, null=True, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = verbose_name_plural = "库存流水"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stock", "created_at"], name="stockmove_stock_time_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.on_hand_delta}/{self.reserved_delta}"


class DriverQuerySet(models.QuerySet):
    def assignable(self, kind: str):
        """The drivers of this kind who may be given work (delivery stops, purchase tasks): in post,
        with a login that is switched on, not suspended (logistics.conduct)."""
        return self.filter(kind=kind, is_active=True, user__is_active=True, suspended_at__isnull=True)


class Driver(BaseModel):
    """A purchasing driver (进货司机) or a delivery driver (送货司机), with a login."""

    class Kind(models.TextChoices):
        PURCHASING = "purchasing", "进货司机"
        DELIVERY = "delivery", "送货司机"

    user = models.OneToOneField("auth.User", verbose_name="登录账号", on_delete=models.PROTECT, related_name="driver")
    kind = models.CharField("类型", max_length=12, choices=Kind.choices)
    name = models.CharField("姓名", max_length=40)
    phone = models.CharField("手机号", max_length=20, blank=True)
    vehicle_plate = models.CharField("车牌", max_length=12, blank=True)
    max_stops = models.PositiveIntegerField("最多站点数", default=25)
    max_weight_kg = models.DecimalField("最大载重(kg)", max_digits=8, decimal_places=1, default=Decimal("1000"))
    is_active = models.BooleanField("在职", default=True)
    # Suspended by a manager (logistics.conduct): no login, no new runs, open stops to reassign.
    suspended_at = models.DateTimeField("暂停时间", null=True, blank=True)
    suspended_by = models.CharField("暂停人", max_length=60, blank=True)
    suspension_reason = models.CharField("暂停原因", max_length=200, blank=True)

    objects = DriverQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "司机"
        ordering = ["kind", "name", "id"]

    def __str__(self):
        return f"{self.name}({self.get_kind_display()})"

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class PurchaseTask(BaseModel):
    """What a purchasing driver collects from one supplier for one delivery date."""

    class Status(models.TextChoices):
        OPEN = "open", "待提货"
        COLLECTED = "collected", "已提货"
        SHORT = "short", "部分缺货"

    supplier = models.ForeignKey(Supplier, verbose_name="供应商", on_delete=models.PROTECT,
                                 related_name="purchase_tasks")
    for_date = models.DateField("送达日期")
    driver = models.ForeignKey(Driver, verbose_name="进货司机", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="purchase_tasks")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.OPEN)
    collected_at = models.DateTimeField("提货时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "采购任务"
        ordering = ["-for_date", "supplier_id"]
        constraints = [models.UniqueConstraint(fields=["supplier", "for_date"], name="purchasetask_one_per_supplier_day")]

    def __str__(self):
        return f"{self.for_date} {self.supplier}"


class PurchaseTaskLine(models.Model):
    task = models.ForeignKey(PurchaseTask, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", verbose_name="商品", on_delete=models.PROTECT,
                                related_name="purchase_lines")
    ordered_quantity = models.DecimalField("订单数量", max_digits=12, decimal_places=2)
    available_quantity = models.DecimalField("可用库存", max_digits=12, decimal_places=2)
    net_quantity = models.DecimalField("净需求(销售单位)", max_digits=12, decimal_places=2)
    purchase_unit = models.CharField("采购单位", max_length=8)
    purchase_quantity = models.DecimalField("采购数量", max_digits=12, decimal_places=2)
    collected_quantity = models.DecimalField("实提数量", max_digits=12, decimal_places=2, null=True, blank=True)
    collected_weight = models.DecimalField("实提重量(斤)", max_digits=12, decimal_places=2, null=True, blank=True)
    shortfall_reason = models.CharField("缺货原因", max_length=100, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "采购明细"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "product"], name="purchasetaskline_unique_product"),
            models.CheckConstraint(condition=Q(purchase_quantity__gt=0), name="purchasetaskline_positive"),
            models.CheckConstraint(condition=Q(collected_quantity__isnull=True) | Q(collected_quantity__gte=0),
                                   name="purchasetaskline_collected_not_negative"),
        ]


class Receipt(BaseModel):
    """Goods received at the warehouse, one supplier at a time; each product is a batch."""

    supplier = models.ForeignKey(Supplier, verbose_name="供应商", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="receipts")
    purchase_task = models.ForeignKey(PurchaseTask, verbose_name="采购任务", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="receipts")
    received_by = models.ForeignKey("auth.User", verbose_name="收货人", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    note = models.CharField("备注", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "入库单"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"入库单 #{self.pk}"


class Batch(models.Model):
    """One product received in one receipt: what a label and the traceability page describe."""

    receipt = models.ForeignKey(Receipt, verbose_name="入库单", on_delete=models.PROTECT, related_name="batches")
    product = models.ForeignKey("catalog.Product", verbose_name="商品", on_delete=models.PROTECT,
                                related_name="batches")
    code = models.CharField("批次号", max_length=20, unique=True)
    quantity = models.DecimalField("数量(销售单位)", max_digits=12, decimal_places=2)
    weight = models.DecimalField("重量(斤)", max_digits=12, decimal_places=2, null=True, blank=True)
    production_date = models.DateField("生产日期", null=True, blank=True)
    expiry_date = models.DateField("保质期至", null=True, blank=True)
    unit_cost = models.DecimalField("单位成本(元)", max_digits=12, decimal_places=4)
    created_at = models.DateTimeField("入库时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "批次"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="batch_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="batch_cost_not_negative"),
            models.CheckConstraint(condition=Q(weight__isnull=True) | Q(weight__gt=0), name="batch_weight_positive"),
            models.CheckConstraint(
                condition=Q(expiry_date__isnull=True) | Q(production_date__isnull=True)
                | Q(expiry_date__gte=F("production_date")),
                name="batch_expiry_after_production",
            ),
        ]

    def __str__(self):
        return self.code


class DeliveryRun(BaseModel):
    """One delivery driver's stops for one date. A driver has at most one run a date."""

    class Status(models.TextChoices):
        PLANNED = "planned", "已排线"
        IN_PROGRESS = "in_progress", "配送中"
        DONE = "done", "已完成"

    driver = models.ForeignKey(Driver, verbose_name="送货司机", on_delete=models.PROTECT, related_name="runs")
    delivery_date = models.DateField("送货日期")
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.PLANNED)
    planned_by = models.CharField("排线方式", max_length=20, blank=True)
    total_distance_km = models.DecimalField("总里程(km)", max_digits=9, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "配送线路"
        ordering = ["-delivery_date", "driver_id"]
        constraints = [models.UniqueConstraint(fields=["driver", "delivery_date"], name="deliveryrun_one_per_driver_day")]

    def __str__(self):
        return f"{self.delivery_date} {self.driver}"


class Stop(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "待送达"
        DELIVERED = "delivered", "已送达"
        FAILED = "failed", "未送达"

    class Proof(models.TextChoices):
        SIGNED = "signed", "当面签收"
        LEFT = "left", "放置指定位置"

    run = models.ForeignKey(DeliveryRun, verbose_name="线路", on_delete=models.CASCADE, related_name="stops")
    order = models.ForeignKey("orders.Order", verbose_name="订单", on_delete=models.PROTECT, related_name="stops")
    sequence = models.PositiveIntegerField("顺序")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    proof_kind = models.CharField("签收方式", max_length=8, choices=Proof.choices, blank=True)
    signed_by = models.CharField("签收人", max_length=40, blank=True)
    left_at = models.CharField("放置位置", max_length=100, blank=True)
    photo = models.ImageField("现场照片", upload_to="proofs/%Y/%m/%d/", blank=True, storage=proof_storage)
    photo_taken_at = models.DateTimeField("拍摄时间", null=True, blank=True)
    failure_reason = models.CharField("未送达原因", max_length=100, blank=True)
    completed_at = models.DateTimeField("完成时间", null=True, blank=True)
    # Where the phone was when the proof was recorded (GCJ-02), and how far from the customer's pin.
    proof_latitude = models.DecimalField("签收位置纬度", max_digits=9, decimal_places=6, null=True, blank=True)
    proof_longitude = models.DecimalField("签收位置经度", max_digits=9, decimal_places=6, null=True, blank=True)
    proof_distance_m = models.PositiveIntegerField("签收点距客户(米)", null=True, blank=True)
    far_from_customer = models.BooleanField("签收位置异常", default=False,
                                            help_text="签收时手机位置距客户定位超过配送规则中的距离")
    needs_reassignment = models.BooleanField("待改派", default=False, help_text="司机被暂停，需改派给其他司机")

    class Meta:
        verbose_name = verbose_name_plural = "配送站点"
        ordering = ["run_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="stop_unique_sequence"),
            # An order is on at most one live stop; a failed stop frees it for another run.
            models.UniqueConstraint(fields=["order"], condition=~Q(status="failed"), name="stop_one_live_per_order"),
        ]

    def __str__(self):
        return f"{self.run_id}#{self.sequence}"


class InventoryValueSnapshot(models.Model):
    """Inventory value at the end of a day, per top-level category (null: the whole warehouse)."""

    day = models.DateField("日期")
    category = models.ForeignKey("catalog.Category", verbose_name="分类", null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField("库存金额", max_digits=16, decimal_places=2)

    class Meta:
        verbose_name = verbose_name_plural = "库存金额日报"
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "category"], name="inventoryvalue_unique_day_category"),
            models.UniqueConstraint(fields=["day"], condition=Q(category__isnull=True),
                                    name="inventoryvalue_unique_day_total"),
        ]


class DeliverySettings(BaseModel):
    """配送规则, edited in admin. One row (pk=1); `DeliverySettings.current()` reads it."""

    proof_distance_limit_m = models.PositiveIntegerField(
        "签收距离上限(米)", default=500,
        help_text="签收时手机位置距客户定位超过此距离，站点标记为签收位置异常并通知管理人员")

    class Meta:
        verbose_name = verbose_name_plural = "配送规则"
        ordering = ["id"]

    def __str__(self):
        return "配送规则"

    @classmethod
    def current(cls) -> "DeliverySettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row
