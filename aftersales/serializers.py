from rest_framework import serializers

from .models import AfterSalesDecision, AfterSalesLine, AfterSalesPhoto, AfterSalesRequest
from .photos import MAX_PHOTOS

ACTOR_LABELS = {"customer": "您"}


class AfterSalesLineSerializer(serializers.ModelSerializer):
    line_id = serializers.IntegerField(source="order_line_id")
    product_name = serializers.CharField(source="order_line.product_name")
    unit = serializers.CharField(source="order_line.unit")

    class Meta:
        model = AfterSalesLine
        fields = ["id", "line_id", "product_name", "unit", "quantity", "weight", "claimed_amount", "approved_amount"]


class AfterSalesPhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = AfterSalesPhoto
        fields = ["id", "url", "width", "height"]

    def get_url(self, photo) -> str:
        return photo.image.url


class AfterSalesReplySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    actor_label = serializers.SerializerMethodField()

    class Meta:
        model = AfterSalesDecision
        fields = ["kind", "kind_label", "actor_label", "amount", "message", "created_at"]

    def get_actor_label(self, row) -> str:
        return ACTOR_LABELS.get(row.actor, "客服")  # staff are named to the customer as 客服, never by login


class AfterSalesRequestSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField()
    order_number = serializers.CharField(source="order.number")
    status_label = serializers.CharField(source="get_status_display")
    reason_label = serializers.CharField(source="get_reason_display")
    lines = AfterSalesLineSerializer(many=True)
    photos = AfterSalesPhotoSerializer(many=True)
    replies = AfterSalesReplySerializer(source="decisions", many=True)
    can_add_photos = serializers.SerializerMethodField()

    class Meta:
        model = AfterSalesRequest
        fields = ["id", "order_id", "order_number", "status", "status_label", "reason", "reason_label", "note",
                  "claimed_amount", "refunded_amount", "created_at", "decided_at", "refunded_at", "lines", "photos",
                  "replies", "can_add_photos"]

    def get_can_add_photos(self, request) -> bool:
        return request.status == AfterSalesRequest.Status.NEEDS_MORE_INFO and len(request.photos.all()) < MAX_PHOTOS


class AfterSalesCreateInput(serializers.Serializer):
    """Documents the multipart body; aftersales.services.request_create checks it."""

    order_id = serializers.UUIDField(help_text="已送达的订单")
    reason = serializers.ChoiceField(choices=AfterSalesRequest.Reason.choices,
                                     help_text="短斤少两 short_weight、破损/解冻 damaged、发错货 wrong_item、漏发 missing、"
                                               "质量问题 quality")
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)
    lines = serializers.CharField(
        help_text='JSON 数组：[{"line_id": 订单明细 id, "quantity": "数量"}]，按实重计价的商品可改填 '
                  '{"line_id": …, "weight": "斤"}；不超过实发数量/重量')
    photos = serializers.ListField(child=serializers.ImageField(), required=False, max_length=MAX_PHOTOS,
                                   help_text="最多 6 张，JPEG/PNG/WebP，每张不超过 5 MB；保存前去除 EXIF")


class AfterSalesPhotosInput(serializers.Serializer):
    photos = serializers.ListField(child=serializers.ImageField(), min_length=1, max_length=MAX_PHOTOS,
                                   help_text="客服要求补充时上传；合计不超过 6 张")


class OrderAfterSalesLineSerializer(serializers.Serializer):
    line_id = serializers.IntegerField()
    product_name = serializers.CharField()
    spec = serializers.CharField()
    unit = serializers.CharField()
    delivered_quantity = serializers.DecimalField(max_digits=10, decimal_places=2)
    weighs = serializers.BooleanField(help_text="可按重量(斤)申请")
    actual_weight = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    charged_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    refundable_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    window_end = serializers.DateTimeField(allow_null=True)
    claimable = serializers.BooleanField()
    problem = serializers.CharField(help_text="不能申请的原因，可申请时为空")


class OrderAfterSalesSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    order_number = serializers.CharField()
    status = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    lines = OrderAfterSalesLineSerializer(many=True)
    requests = AfterSalesRequestSerializer(many=True)
