from rest_framework import serializers


class CouponSerializer(serializers.Serializer):
    """One of the customer's coupons with its template's terms."""

    id = serializers.IntegerField()
    name = serializers.CharField(source="template.name")
    terms = serializers.CharField(source="template.terms", help_text="如「满 ¥200 减 ¥20」「无门槛 9 折，最多减 ¥50」")
    kind = serializers.ChoiceField(source="template.kind", choices=["amount", "percent"],
                                   help_text="amount 满减券；percent 折扣券")
    amount_off = serializers.DecimalField(source="template.amount_off", max_digits=10, decimal_places=2,
                                          allow_null=True)
    percent_off = serializers.DecimalField(source="template.percent_off", max_digits=5, decimal_places=2,
                                           allow_null=True, help_text="优惠百分比，10 即九折")
    max_discount = serializers.DecimalField(source="template.max_discount", max_digits=10, decimal_places=2,
                                            allow_null=True)
    min_spend = serializers.DecimalField(source="template.min_spend", max_digits=10, decimal_places=2,
                                         help_text="适用商品满多少可用，0 为无门槛")
    valid_from = serializers.DateField(source="template.valid_from", help_text="北京时间，含当天")
    valid_to = serializers.DateField(source="template.valid_to", help_text="北京时间，含当天")
    categories = serializers.SerializerMethodField(help_text="限用品类名称；空为全场通用")
    used_order_number = serializers.CharField(allow_null=True, help_text="已使用：使用它的订单号")

    def get_categories(self, coupon) -> list[str]:
        return [category.name for category in coupon.template.categories.all()]


class CouponWalletSerializer(serializers.Serializer):
    usable = CouponSerializer(many=True, help_text="可使用（含尚未生效的），最早到期的在前")
    used = CouponSerializer(many=True, help_text="已使用（订单待付款或已付款）")
    expired = CouponSerializer(many=True, help_text="已过期或已停用")


class CouponOptionSerializer(serializers.Serializer):
    """One of the buyer's coupons against the basket of the checkout page."""

    coupon = CouponSerializer()
    usable = serializers.BooleanField()
    discount = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="用这张券本单优惠多少")
    total = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="用这张券的应付金额")
    reason = serializers.CharField(help_text="不能用的原因；能用时为空")
