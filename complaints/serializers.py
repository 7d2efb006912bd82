from rest_framework import serializers

from aftersales.photos import MAX_PHOTOS

from .models import Complaint, ComplaintEvent, ComplaintPhoto

ACTOR_LABELS = {"customer": "您"}


class ComplaintPhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = ComplaintPhoto
        fields = ["id", "url", "width", "height"]

    def get_url(self, photo) -> str:
        return photo.image.url


class ComplaintReplySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    actor_label = serializers.SerializerMethodField()

    class Meta:
        model = ComplaintEvent
        fields = ["kind", "kind_label", "actor_label", "message", "created_at"]

    def get_actor_label(self, row) -> str:
        return ACTOR_LABELS.get(row.actor, "客服")  # staff are 客服 to the customer, never a login name


class ComplaintSerializer(serializers.ModelSerializer):
    """What the customer who filed it reads: never the owner, the driver or the rep it names."""

    order_id = serializers.UUIDField(allow_null=True)
    order_number = serializers.SerializerMethodField()
    category_label = serializers.CharField(source="get_category_display")
    status_label = serializers.CharField(source="get_status_display")
    photos = ComplaintPhotoSerializer(many=True)
    replies = ComplaintReplySerializer(source="public_events", many=True)

    class Meta:
        model = Complaint
        fields = ["id", "order_id", "order_number", "category", "category_label", "text", "status", "status_label",
                  "created_at", "first_response_due", "first_response_at", "resolved_at", "photos", "replies"]

    def get_order_number(self, complaint) -> str | None:
        return complaint.order.number if complaint.order_id else None


class ComplaintCreateInput(serializers.Serializer):
    """Documents the multipart body; complaints.services.complaint_file checks it."""

    category = serializers.ChoiceField(
        choices=Complaint.Category.choices,
        help_text="配送问题 delivery、司机态度/行为 driver、业务员 rep、客服/服务 service、人身安全/骚扰 safety（立即通知经理）、其他 other")
    text = serializers.CharField(max_length=500, help_text="投诉内容，必填，不超过 500 字")
    order_id = serializers.UUIDField(required=False, help_text="投诉所涉订单（本人的订单）；不涉及订单时不填")
    photos = serializers.ListField(child=serializers.ImageField(), required=False, max_length=MAX_PHOTOS,
                                   help_text="最多 6 张，JPEG/PNG/WebP，每张不超过 5 MB；保存前去除 EXIF")
