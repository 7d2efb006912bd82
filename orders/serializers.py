from rest_framework import serializers

from .models import Order, OrderEvent, OrderLine, Refund


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product", "product_code", "product_name", "spec", "unit", "unit_price", "quantity", "amount",
                  "catch_weight"]


class OrderEventSerializer(serializers.ModelSerializer):
    to_status_label = serializers.SerializerMethodField()

    class Meta:
        model = OrderEvent
        fields = ["from_status", "to_status", "to_status_label", "note", "created_at"]

    def get_to_status_label(self, event) -> str:
        return Order.Status(event.to_status).label


class RefundSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")

    class Meta:
        model = Refund
        fields = ["out_refund_no", "amount", "reason", "status", "status_label", "created_at", "succeeded_at"]


class OrderMessageSerializer(serializers.Serializer):
    """A notification about the order, as the customer reads it on the order page."""

    title = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class OrderSummarySerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    lines = OrderLineSerializer(many=True)

    class Meta:
        model = Order
        fields = ["id", "number", "status", "status_label", "delivery_date", "total", "created_at", "paid_at",
                  "expires_at", "lines"]


class OrderDetailSerializer(OrderSummarySerializer):
    events = OrderEventSerializer(many=True)
    refunds = RefundSerializer(many=True)
    # Set by selectors.customer_order_get (notifications are not a relation of the order).
    messages = OrderMessageSerializer(source="customer_messages", many=True, read_only=True, default=list)

    class Meta(OrderSummarySerializer.Meta):
        fields = OrderSummarySerializer.Meta.fields + [
            "subtotal", "delivery_fee", "discount", "restaurant_name", "contact_name", "phone", "address",
            "district", "latitude", "longitude", "note", "cancelled_at", "cancel_reason", "events", "refunds",
            "messages",
        ]


class CheckoutInput(serializers.Serializer):
    idempotency_key = serializers.CharField(max_length=64, help_text="客户端为这次结算生成的唯一键，重试时不变")
    restaurant_name = serializers.CharField(max_length=80, allow_blank=True)
    contact_name = serializers.CharField(max_length=40, allow_blank=True)
    address = serializers.CharField(max_length=200, allow_blank=True)
    district = serializers.CharField(max_length=20, required=False, allow_blank=True)
    latitude = serializers.CharField(max_length=20, help_text="GCJ-02")
    longitude = serializers.CharField(max_length=20, help_text="GCJ-02")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class PhoneInput(serializers.Serializer):
    code = serializers.CharField(max_length=512, help_text="getPhoneNumber 按钮返回的 code")
    nickname = serializers.CharField(max_length=64, required=False, allow_blank=True)
