from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from core.models import BaseModel


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

    stock = models.ForeignKey(Stock, verbose_name="库存", on_delete=models.PROTECT, related_name="moves")
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    on_hand_delta = models.DecimalField("在库变化", max_digits=12, decimal_places=2, default=Decimal("0"))
    reserved_delta = models.DecimalField("预留变化", max_digits=12, decimal_places=2, default=Decimal("0"))
    reference = models.CharField("关联单据", max_length=64, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = verbose_name_plural = "库存流水"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stock", "created_at"], name="stockmove_stock_time_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.on_hand_delta}/{self.reserved_delta}"
