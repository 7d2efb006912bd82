from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from core.models import BaseModel

from .cache import catalog_changed
from .search import build_search_key


class Category(BaseModel):
    """Two levels: a top-level aisle (冻虾类) and its shelves (虾仁, 整虾)."""

    parent = models.ForeignKey(
        "self", verbose_name="上级分类", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField("名称", max_length=40)
    sort_order = models.PositiveIntegerField("排序", default=0)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "分类"
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name_per_parent"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(parent__isnull=True), name="category_unique_top_level_name"
            ),
        ]

    def __str__(self):
        return f"{self.parent.name} / {self.name}" if self.parent_id and self.parent else self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        catalog_changed()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        catalog_changed()
        return result

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.parent_id and self.parent.parent_id:
            raise ValidationError({"parent": "分类最多两级"})
        if self.parent_id and self.pk and self.parent_id == self.pk:
            raise ValidationError({"parent": "不能以自身为上级"})


class ProductQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True, category__is_active=True).filter(
            Q(category__parent__isnull=True) | Q(category__parent__is_active=True)
        )

    def in_category(self, category: Category):
        """Products on the shelf or anywhere under the aisle."""
        if category.parent_id:
            return self.filter(category=category)
        return self.filter(Q(category=category) | Q(category__parent=category))

    def search(self, normalized_query: str):
        return self.filter(search_key__contains=normalized_query)


class Product(BaseModel):
    class Unit(models.TextChoices):
        JIN = "斤", "斤"
        KG = "kg", "千克"
        BOX = "箱", "箱"
        BAG = "袋", "袋"
        CARTON = "盒", "盒"
        PACK = "包", "包"
        PIECE = "条", "条"
        EACH = "只", "只"

    class Storage(models.TextChoices):
        FROZEN = "frozen", "冷冻"
        CHILLED = "chilled", "冷藏"
        AMBIENT = "ambient", "常温"

    code = models.CharField("SKU 编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=80)
    category = models.ForeignKey(Category, verbose_name="分类", on_delete=models.PROTECT, related_name="products")
    spec = models.CharField("规格", max_length=40, blank=True, help_text="如 1kg/袋")
    unit = models.CharField("销售单位", max_length=4, choices=Unit.choices, default=Unit.JIN)
    price = models.DecimalField(
        "单价(元)", max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    catch_weight = models.BooleanField("按实重计价", default=False)
    nominal_weight = models.DecimalField(
        "每单位标称重量(斤)", max_digits=8, decimal_places=2, null=True, blank=True,
        help_text="按实重计价的商品必填：一个销售单位的标称重量",
    )
    storage = models.CharField("储存方式", max_length=8, choices=Storage.choices, default=Storage.FROZEN)
    origin = models.CharField("产地", max_length=40, blank=True)
    image = models.ImageField("图片", upload_to="products/", blank=True)
    # 160×160, derived from `image` (catalog.pictures): what the shop's lists load.
    thumbnail = models.ImageField("缩略图", upload_to="products/thumbs/", blank=True, editable=False)
    default_supplier = models.ForeignKey(
        "logistics.Supplier", verbose_name="默认供应商", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="products",
    )
    is_active = models.BooleanField("上架", default=True)
    min_quantity = models.DecimalField(
        "起订量", max_digits=8, decimal_places=2, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    step_quantity = models.DecimalField(
        "加购步长", max_digits=8, decimal_places=2, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    sort_order = models.PositiveIntegerField("排序", default=0)
    # How the supplier sells it: e.g. sold by the 斤, bought by the 箱 of 20 斤 (factor 20).
    purchase_unit = models.CharField("采购单位", max_length=8, blank=True, help_text="留空则与销售单位相同")
    purchase_factor = models.DecimalField(
        "每采购单位含销售单位数", max_digits=10, decimal_places=2, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    search_key = models.CharField("搜索键", max_length=400, editable=False, default="")

    objects = ProductQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "商品"
        ordering = ["sort_order", "id"]
        indexes = [models.Index(fields=["category", "is_active", "sort_order", "id"], name="product_shelf_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="product_price_positive"),
            models.CheckConstraint(condition=Q(min_quantity__gt=0), name="product_min_quantity_positive"),
            models.CheckConstraint(condition=Q(step_quantity__gt=0), name="product_step_quantity_positive"),
            models.CheckConstraint(condition=Q(purchase_factor__gt=0), name="product_purchase_factor_positive"),
            models.CheckConstraint(
                condition=Q(catch_weight=False) | Q(nominal_weight__isnull=False, nominal_weight__gt=0),
                name="product_catch_weight_has_nominal_weight",
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.catch_weight and not self.nominal_weight:
            raise ValidationError({"nominal_weight": "按实重计价的商品必须填写标称重量"})
        if self.category_id and self.category.parent_id is None and self.category.children.exists():
            raise ValidationError({"category": "请选择二级分类"})

    def refresh_search_key(self) -> None:
        self.search_key = build_search_key(name=self.name, code=self.code)

    def save(self, *args, **kwargs):
        self.refresh_search_key()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and ({"name", "code"} & set(update_fields)):
            kwargs["update_fields"] = set(update_fields) | {"search_key"}
        super().save(*args, **kwargs)
        catalog_changed()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        catalog_changed()
        return result


class Cart(BaseModel):
    """One cart per visitor (WeChat OpenID); it lives in the database so it survives days."""

    visitor = models.OneToOneField("customers.Visitor", on_delete=models.CASCADE, related_name="cart")

    class Meta:
        verbose_name = verbose_name_plural = "购物车"
        ordering = ["-updated_at"]

    def __str__(self):
        return f"购物车 #{self.pk}"


class CartLine(BaseModel):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines", db_index=False)  # cartline_unique_product
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="cart_lines")
    quantity = models.DecimalField("数量", max_digits=10, decimal_places=2)

    class Meta:
        verbose_name = verbose_name_plural = "购物车商品"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cartline_unique_product"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cartline_quantity_positive"),
        ]





class PriceList(BaseModel):
    """价目表: a price for a group of customers (大客户价, 新客价, 连锁店价).

    A customer is given one on its own page (customers.Customer.own_price_list) or through its
    tags (crm.Tag.price_list); which one is in force is catalog.price_lists.list_in_force (the own
    list first, then the tags' by `priority`; only a list that applies today), kept on
    Customer.price_list. The rule that turns a list into a price is catalog.pricing.list_price_rule;
    the list applies from `valid_from` to `valid_to` inclusive, as dates in Shanghai time, and only
    while active.
    """

    name = models.CharField("名称", max_length=40, unique=True)
    is_active = models.BooleanField("启用", default=True)
    valid_from = models.DateField("生效日期", null=True, blank=True, help_text="留空：立即生效（上海时间，含当天）")
    valid_to = models.DateField("截止日期", null=True, blank=True, help_text="留空：长期有效（上海时间，含当天）")
    note = models.CharField("备注", max_length=200, blank=True)
    priority = models.SmallIntegerField(
        "优先级", default=0,
        help_text="客户没有指定价目表、而多个标签各带价目表时，优先级高的生效（相同时先建的生效）；客户自己指定的价目表总是优先")

    class Meta:
        verbose_name = verbose_name_plural = "价目表"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="pricelist_valid_dates_ordered",
            ),
        ]

    def __str__(self):
        return self.name


class PriceListEntry(models.Model):
    """One line of a price list: a fixed price for a product, or a percentage off a category."""

    price_list = models.ForeignKey(PriceList, verbose_name="价目表", on_delete=models.CASCADE, related_name="entries",
                                   db_index=False)  # covered by the two unique constraints
    product = models.ForeignKey(Product, verbose_name="商品", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="price_entries")
    category = models.ForeignKey(Category, verbose_name="分类", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="price_entries")
    price = models.DecimalField("固定单价(元)", max_digits=10, decimal_places=2, null=True, blank=True,
                                validators=[MinValueValidator(Decimal("0.01"))])
    percent_off = models.DecimalField("折扣(%)", max_digits=5, decimal_places=2, null=True, blank=True,
                                      validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
                                      help_text="如 5 表示 95 折")

    class Meta:
        verbose_name = verbose_name_plural = "价目表条目"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["price_list", "product"], name="pricelistentry_unique_product"),
            models.UniqueConstraint(fields=["price_list", "category"], name="pricelistentry_unique_category"),
            # A product gets a fixed price; a category gets a percentage off: exactly one of each pair.
            models.CheckConstraint(
                condition=(Q(product__isnull=False, category__isnull=True, price__gt=0, percent_off__isnull=True)
                           | Q(product__isnull=True, category__isnull=False, price__isnull=True,
                               percent_off__gte=0, percent_off__lte=100)),
                name="pricelistentry_product_price_or_category_percent",
            ),
        ]

    def __str__(self):
        if self.product_id:
            return f"{self.product} ¥{self.price}"
        return f"{self.category} -{self.percent_off}%"

    def clean(self):
        from django.core.exceptions import ValidationError

        if bool(self.product_id) == bool(self.category_id):
            raise ValidationError("请选择商品或分类（二选一）")
        if self.product_id and (self.price is None or self.percent_off is not None):
            raise ValidationError({"price": "商品条目须填写固定单价，不填折扣"})
        if self.category_id and (self.percent_off is None or self.price is not None):
            raise ValidationError({"percent_off": "分类条目须填写折扣，不填固定单价"})


@receiver(post_save, sender=PriceListEntry)
@receiver(post_delete, sender=PriceListEntry)
def _price_list_touched(sender, instance, **kwargs):
    """A list's `updated_at` moves with its entries (saved or deleted through the ORM: the admin's
    inline, a queryset's delete): what keeps a list's prices (usuals.list_read) keys on it."""
    PriceList.objects.filter(pk=instance.price_list_id).update(updated_at=timezone.now())
