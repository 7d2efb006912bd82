"""Tags, automatic-tag rules, segments and the welcome message (the API is in crm/__init__.py)."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel


class TagGroup(BaseModel):
    """业态, 规模, 购买偏好, RFM 分层 … A manual group's tags are set by people (staff in admin, a rep
    for their own customers); an automatic group's only by the nightly rules (crm.autotags)."""

    class Kind(models.TextChoices):
        MANUAL = "manual", "手动"
        AUTO = "auto", "自动（每晚按规则计算）"

    name = models.CharField("名称", max_length=20, unique=True)
    kind = models.CharField("类型", max_length=6, choices=Kind.choices, default=Kind.MANUAL)
    sort_order = models.PositiveIntegerField("排序", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "标签组"
        ordering = ["sort_order", "id"]

    def __str__(self):
        return self.name


class RfmSegment(models.TextChoices):
    """The RFM classes (crm.rules.rfm_segment has the mapping)."""

    IMPORTANT_VALUE = "important_value", "重要价值"
    IMPORTANT_DEVELOP = "important_develop", "重要发展"
    IMPORTANT_KEEP = "important_keep", "重要保持"
    IMPORTANT_WIN_BACK = "important_win_back", "重要挽留"
    ORDINARY = "ordinary", "一般"
    LOST = "lost", "流失"


class Tag(BaseModel):
    group = models.ForeignKey(TagGroup, verbose_name="标签组", on_delete=models.PROTECT, related_name="tags")
    name = models.CharField("名称", max_length=20)
    sort_order = models.PositiveIntegerField("排序", default=0)
    # For a tag of an automatic group: the RFM class it stands for (one tag per class at most).
    rfm_segment = models.CharField("RFM 分层", max_length=20, choices=RfmSegment.choices, blank=True, default="",
                                   help_text="自动标签：客户属于该 RFM 分层时打上（规则见「自动标签设置」）")
    # Customers carrying the tag buy at this list when they have none of their own
    # (catalog.price_lists: which list is in force).
    price_list = models.ForeignKey("catalog.PriceList", verbose_name="价目表", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="tags",
                                   help_text="带此标签的客户按此价目表购买（客户自己指定的价目表优先）")

    class Meta:
        verbose_name = verbose_name_plural = "标签"
        ordering = ["group__sort_order", "group_id", "sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="tag_unique_name_per_group"),
            models.UniqueConstraint(fields=["rfm_segment"], condition=~Q(rfm_segment=""), name="tag_unique_rfm_segment"),
        ]

    def __str__(self):
        return f"{self.group.name}:{self.name}" if self.group_id else self.name

    def clean(self):
        super().clean()
        if self.rfm_segment and self.group_id and self.group.kind != TagGroup.Kind.AUTO:
            raise ValidationError({"rfm_segment": "RFM 分层只能设在自动标签组的标签上"})


class CustomerTag(models.Model):
    """A customer carries a tag. Unique per (customer, tag); `source` says who put it there:
    a person (manual: staff or the customer's rep) or the nightly rules (auto: rewritten each night)."""

    class Source(models.TextChoices):
        MANUAL = "manual", "手动"
        AUTO = "auto", "自动"

    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                 related_name="customer_tags", db_index=False)  # customertag_unique
    tag = models.ForeignKey(Tag, verbose_name="标签", on_delete=models.CASCADE, related_name="customer_tags",
                            db_index=False)  # customertag_tag_idx
    source = models.CharField("来源", max_length=6, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+", db_index=False)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "客户标签"
        ordering = ["tag__group__sort_order", "tag__sort_order", "tag_id"]
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="customertag_unique")]
        indexes = [models.Index(fields=["tag", "customer"], name="customertag_tag_idx")]

    def __str__(self):
        return f"{self.customer_id}:{self.tag_id}"


class CustomerSpend(models.Model):
    """Last night's spend per customer over the category window (AutoTagSettings): one row per
    (customer, category of the products bought) and one with no category, the customer's total.
    Written by the nightly automatic tags (crm.autotags); segments' spend and category filters read
    it, so a count never aggregates millions of order lines."""

    # No database foreign keys: the rows are derived from valid ones and rewritten whole each night,
    # and checking half a million of them at commit doubled the write (deletes still cascade, in Django).
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False,
                                 db_constraint=False)
    category = models.ForeignKey("catalog.Category", null=True, on_delete=models.CASCADE, related_name="+",
                                 db_index=False, db_constraint=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = verbose_name_plural = "客户消费（夜间汇总）"
        ordering = ["customer_id", "category_id"]
        indexes = [models.Index(fields=["category", "customer"], name="customerspend_category_idx")]

    def __str__(self):
        return f"{self.customer_id}:{self.category_id or '合计'}"


class AutoTagSettings(BaseModel):
    """The windows of the nightly automatic tags, edited in admin. One row (pk=1)."""

    category_window_days = models.PositiveIntegerField(
        "品类占比统计天数", default=90, validators=[MinValueValidator(1), MaxValueValidator(3660)],
        help_text="按最近这么多天已付款订单的品类金额占比打标签；客户分群的消费金额与买过品类也按此统计（每晚更新）")
    rfm_window_days = models.PositiveIntegerField(
        "RFM 统计天数", default=365, validators=[MinValueValidator(1), MaxValueValidator(3660)],
        help_text="频次(F)与金额(M)按最近这么多天的已付款订单计；此期间没有订单的老客户归为「流失」")

    class Meta:
        verbose_name = verbose_name_plural = "自动标签设置"
        ordering = ["id"]

    def __str__(self):
        return "自动标签设置"

    @classmethod
    def current(cls) -> "AutoTagSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class CategoryShareRule(BaseModel):
    """「买虾」when shrimp is ≥ 30 % of a customer's spend over the window (AutoTagSettings)."""

    category = models.ForeignKey("catalog.Category", verbose_name="品类", on_delete=models.CASCADE,
                                 related_name="share_rules", help_text="一级分类含其下所有二级分类")
    threshold_percent = models.DecimalField(
        "占比阈值(%)", max_digits=5, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text="该品类金额 ÷ 总金额 ≥ 此值即打上标签（含等于）")
    tag = models.ForeignKey(Tag, verbose_name="标签", on_delete=models.CASCADE, related_name="share_rules",
                            limit_choices_to={"group__kind": TagGroup.Kind.AUTO})
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "品类占比规则"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold_percent__gt=0) & Q(threshold_percent__lte=100),
                                   name="categorysharerule_threshold_range"),
        ]

    def __str__(self):
        return f"{self.tag.name}：{self.category.name} ≥ {self.threshold_percent}%"

    def clean(self):
        super().clean()
        if self.tag_id and self.tag.group.kind != TagGroup.Kind.AUTO:
            raise ValidationError({"tag": "请选择自动标签组里的标签"})


class Segment(BaseModel):
    """A saved set of filters (crm.segments.segment_customer_ids evaluates it when used).

    Every filter left empty is ignored; the ones set all apply (AND). Tags: AND between groups,
    OR within a group (WeCom's tag_filter)."""

    class CategoryMode(models.TextChoices):
        BOUGHT = "bought", "买过"
        NOT_BOUGHT = "not_bought", "没买过"

    name = models.CharField("名称", max_length=40, unique=True)
    note = models.CharField("说明", max_length=200, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name="标签", blank=True, related_name="segments",
                                  help_text="不同标签组之间为「且」，同一组内为「或」")
    reps = models.ManyToManyField("reps.Rep", verbose_name="业务员", blank=True, related_name="segments",
                                  help_text="其中任一业务员的客户")
    districts = models.CharField("区", max_length=200, blank=True, help_text="多个区用逗号或空格分隔，如：福田 南山")
    near_latitude = models.DecimalField("中心纬度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True,
                                        validators=[MinValueValidator(-90), MaxValueValidator(90)])
    near_longitude = models.DecimalField("中心经度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True,
                                         validators=[MinValueValidator(-180), MaxValueValidator(180)])
    radius_km = models.DecimalField("半径(公里)", max_digits=6, decimal_places=2, null=True, blank=True,
                                    validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(200)])
    churn_statuses = models.CharField("流失状态", max_length=40, blank=True,
                                      help_text="逗号分隔：active, at_risk, churned")
    last_order_from = models.DateField("最近下单从", null=True, blank=True, help_text="北京时间日期，含当天")
    last_order_to = models.DateField("最近下单到", null=True, blank=True, help_text="北京时间日期，含当天")
    # Spend and category: over the automatic tags' category window (default the last 90 days), as
    # of the last nightly run (CustomerSpend).
    spend_min = models.DecimalField("消费金额下限(元)", max_digits=12, decimal_places=2, null=True, blank=True,
                                    validators=[MinValueValidator(0)])
    spend_max = models.DecimalField("消费金额上限(元)", max_digits=12, decimal_places=2, null=True, blank=True,
                                    validators=[MinValueValidator(0)])
    category = models.ForeignKey("catalog.Category", verbose_name="品类", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="segments")
    category_mode = models.CharField("品类条件(近 90 天，见自动标签设置)", max_length=10, choices=CategoryMode.choices,
                                     default=CategoryMode.BOUGHT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="创建人", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = verbose_name_plural = "客户分群"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class WelcomeSettings(BaseModel):
    """The welcome a new customer gets once, at their first phone authorisation. One row (pk=1)."""

    is_active = models.BooleanField("发送欢迎消息", default=True)
    title = models.CharField("标题", max_length=20, default="欢迎光临")
    text = models.CharField(
        "内容", max_length=200, default="您好，我是您的专属业务员{rep_name}，有任何需要随时找我！",
        help_text="{rep_name} 换成业务员姓名（没有业务员时为「我们」），{customer_name} 换成餐厅名称")
    link = models.CharField("链接", max_length=200, default="/shop/", help_text="小程序内页面路径，如 /shop/")
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate", verbose_name="新客优惠券", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="可选：新餐厅首次授权手机号时发一张（下单时自动推荐），欢迎消息里会提到它；"
                                    "模板停用或过期时不发")

    class Meta:
        verbose_name = verbose_name_plural = "欢迎消息"
        ordering = ["id"]

    def __str__(self):
        return "欢迎消息"

    def clean(self):
        super().clean()
        try:
            self.text.format(rep_name="", customer_name="")
        except (KeyError, IndexError, ValueError):
            raise ValidationError({"text": "只能使用 {rep_name} 和 {customer_name} 两个占位符"})
        if not self.link.startswith("/"):
            raise ValidationError({"link": "请填写以 / 开头的站内路径"})

    @classmethod
    def current(cls) -> "WelcomeSettings":
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class WelcomeDue(models.Model):
    """A welcome owed to a new restaurant (crm.welcome): written at its first phone authorisation,
    released into the outbox once — when a WeChat user of the restaurant accepts the `welcome`
    template, or else when its first paid order settles (then without an acceptance it is recorded
    "no consent", final)."""

    class Release(models.TextChoices):
        CONSENT = "consent", "客户同意了欢迎消息"
        FIRST_PAYMENT = "first_payment", "首单付款"

    customer = models.OneToOneField("customers.Customer", verbose_name="客户", primary_key=True,
                                    on_delete=models.CASCADE, related_name="welcome_due")
    openid = models.CharField("首次授权的微信用户", max_length=64)
    coupon = models.ForeignKey("coupons.Coupon", verbose_name="新客优惠券", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField("首次授权时间", auto_now_add=True)
    released_at = models.DateTimeField("写入发件箱时间", null=True, blank=True)
    released_by = models.CharField("写入原因", max_length=16, choices=Release.choices, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "待发欢迎消息"
        ordering = ["-created_at", "customer"]
        constraints = [
            models.CheckConstraint(condition=Q(released_at__isnull=True, released_by="")
                                   | Q(released_at__isnull=False) & ~Q(released_by=""),
                                   name="welcomedue_release_has_reason"),
        ]

    def __str__(self):
        return f"欢迎消息 · 客户 {self.customer_id}"
