from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel

from .phones import phone_normalize

# The database's guarantee that one phone number is one restaurant; customers.services catches
# a violation of it by this name (two first authorisations of one number racing each other).
CUSTOMER_PHONE_UNIQUE = "customer_phone_unique"


class Visitor(BaseModel):
    """A WeChat user who opened the mini program: identified by OpenID, no login needed.

    A visitor becomes (or joins) a customer only when they authorise their phone at payment.
    """

    openid = models.CharField("OpenID", max_length=64, unique=True)
    unionid = models.CharField("UnionID", max_length=64, blank=True, default="")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="visitors",
    )
    nickname = models.CharField("昵称", max_length=64, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True)
    last_seen_at = models.DateTimeField("最近访问", null=True, blank=True)
    # First touch: the first rep whose code brought this WeChat user in. Later codes are recorded
    # as entries, never credited.
    first_rep = models.ForeignKey("reps.Rep", verbose_name="首次触达业务员", null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="first_touch_visitors")
    first_touch_at = models.DateTimeField("首次触达时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "访客"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.nickname or self.openid


class CustomerQuerySet(models.QuerySet):
    def churned(self):
        return self.filter(status=Customer.Status.CHURNED)

    def lapsing(self):
        """Churned or at risk: the customers a rep should walk in on."""
        return self.filter(status__in=[Customer.Status.CHURNED, Customer.Status.AT_RISK])


class Customer(BaseModel):
    """A restaurant. It belongs to the company; the rep is who looks after it now."""

    class Status(models.TextChoices):
        ACTIVE = "active", "活跃"
        AT_RISK = "at_risk", "流失预警"
        CHURNED = "churned", "已流失"

    name = models.CharField("餐厅名称", max_length=80)
    contact_name = models.CharField("联系人", max_length=40, blank=True)
    # Stored normalised (customers.phones): unique, so two restaurants never share a number.
    phone = models.CharField("手机号", max_length=20)
    address = models.CharField("地址", max_length=200, blank=True)
    district = models.CharField("区", max_length=20, blank=True, db_index=True)
    # GCJ-02, as WeChat and Tencent Maps give it; never WGS-84 or BD-09.
    latitude = models.DecimalField(
        "纬度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(Decimal("-90")), MaxValueValidator(Decimal("90"))],
    )
    longitude = models.DecimalField(
        "经度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(Decimal("-180")), MaxValueValidator(Decimal("180"))],
    )
    rep = models.ForeignKey(
        "reps.Rep", verbose_name="业务员", null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )

    objects = CustomerQuerySet.as_manager()
    last_order_at = models.DateTimeField("最近下单", null=True, blank=True, db_index=True)
    # The ordering rhythm, kept up to date at each payment (orders.services.payments) and checked
    # nightly (customers.churn.customer_order_stats_drift): the churn sweep reads only these columns.
    first_order_at = models.DateTimeField("首次下单", null=True, blank=True)
    paid_order_count = models.PositiveIntegerField("付款订单数", default=0)
    usual_interval = models.DurationField("平均下单间隔", null=True, blank=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_changed_at = models.DateTimeField("状态变化时间", null=True, blank=True)
    # Who brought the restaurant in, and when; unlike `rep`, handovers never change it.
    acquired_by = models.ForeignKey("reps.Rep", verbose_name="开发业务员", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="acquired_customers")
    acquired_at = models.DateTimeField("开发时间", null=True, blank=True)
    # Price lists (README "Price lists"): `own_price_list` is the one staff give this customer;
    # `price_list` is the one in force, which every pricing path reads (catalog.pricing.buyer_of,
    # checkout's read, the listing, 我的常购): the own list, else a tag's, only while it applies,
    # written by catalog.price_lists.refresh whenever one of those changes and each night.
    own_price_list = models.ForeignKey("catalog.PriceList", verbose_name="指定价目表", null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="own_customers",
                                       help_text="只给这家客户的价目表，优先于标签带来的价目表")
    price_list = models.ForeignKey("catalog.PriceList", verbose_name="生效价目表", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="customers")

    class Meta:
        verbose_name = verbose_name_plural = "客户"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["latitude", "longitude"], name="customer_location_idx"),
            models.Index(fields=["rep", "-created_at"], name="customer_rep_recent_idx"),
            models.Index(fields=["status", "last_order_at"], name="customer_status_last_order_idx"),
            models.Index(fields=["rep", "status", "latitude", "longitude"], name="customer_rep_nearby_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | (Q(latitude__gte=-90) & Q(latitude__lte=90)),
                name="customer_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | (Q(longitude__gte=-180) & Q(longitude__lte=180)),
                name="customer_longitude_range",
            ),
            models.UniqueConstraint(
                fields=["phone"], name=CUSTOMER_PHONE_UNIQUE,
                violation_error_message="该手机号已属于另一家客户（一个手机号只能对应一家餐厅）",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        # Before the form's constraint check, so "138 1234 5678" is found to be 13812345678's.
        super().clean()
        self.phone = phone_normalize(self.phone)

    def save(self, *args, **kwargs):
        self.phone = phone_normalize(self.phone)
        super().save(*args, **kwargs)


class ChurnSettings(BaseModel):
    """How churn is judged, edited in admin. One row (pk=1). The sweep's time is its beat schedule."""

    churn_days = models.PositiveIntegerField("流失天数", default=30, validators=[MinValueValidator(1)],
                                             help_text="超过这么多天没有付款订单即为流失")
    at_risk_multiplier = models.DecimalField(
        "预警倍数", max_digits=4, decimal_places=1, default=Decimal("3.0"), validators=[MinValueValidator(Decimal("1"))],
        help_text="沉默时间超过该客户平均下单间隔的几倍即预警（如每 3 天一单，沉默 9 天预警）")
    at_risk_min_orders = models.PositiveIntegerField("预警最少订单数", default=3, validators=[MinValueValidator(2)],
                                                     help_text="订单太少看不出节奏，不预警")
    at_risk_min_silence_days = models.PositiveIntegerField("预警最短沉默天数", default=5,
                                                           validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = verbose_name_plural = "流失规则"
        ordering = ["id"]

    def __str__(self):
        return "流失规则"

    @classmethod
    def current(cls) -> "ChurnSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class ChurnEvent(models.Model):
    class Kind(models.TextChoices):
        AT_RISK = "at_risk", "流失预警"
        CHURNED = "churned", "流失"
        REACTIVATED = "reactivated", "召回"

    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="churn_events")
    kind = models.CharField("类型", max_length=12, choices=Kind.choices)
    rep = models.ForeignKey("reps.Rep", verbose_name="业务员(当时)", null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="churn_events")
    night = models.DateField("日期(北京时间)")
    last_order_at = models.DateTimeField("最近下单", null=True, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "流失事件"
        ordering = ["-night", "-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "kind", "night"], name="churnevent_once_a_night")]
        indexes = [models.Index(fields=["rep", "kind", "night"], name="churnevent_rep_kind_night_idx"),
                   # The company dashboard's churned and reactivated over a range of nights, every rep.
                   models.Index(fields=["night", "kind"], name="churnevent_night_kind_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.customer_id}"


class ChurnSnapshot(models.Model):
    """Counts after each nightly sweep, for the churn dashboard over time."""

    night = models.DateField("日期", unique=True)
    active = models.PositiveIntegerField("活跃")
    at_risk = models.PositiveIntegerField("预警")
    churned = models.PositiveIntegerField("流失")
    new_at_risk = models.PositiveIntegerField("新增预警")
    new_churned = models.PositiveIntegerField("新增流失")
    reactivated = models.PositiveIntegerField("召回")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "流失日报"
        ordering = ["-night"]

    def __str__(self):
        return str(self.night)
