from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from catalog.serializers import CartLineSerializer, CartSerializer
from core.schema import ErrorSerializer
from coupons.serializers import CouponOptionSerializer

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


class ChangeWindowSerializer(serializers.Serializer):
    """Whether the customer may still cancel the paid order or reduce its lines (before the cut-off)."""

    allowed = serializers.BooleanField(help_text="现在能否取消订单或减少商品")
    deadline = serializers.DateTimeField(help_text="截单时间：送达前一天的截单时刻（北京时间）")
    reason = serializers.CharField(help_text="给客户看的说明：可改到何时，或为何不能再改")


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
    # Set by selectors.customer_order_get; null while unpaid (cancel directly) or once cancelled.
    change = ChangeWindowSerializer(source="change_window", read_only=True, allow_null=True, default=None)

    class Meta(OrderSummarySerializer.Meta):
        fields = OrderSummarySerializer.Meta.fields + [
            "subtotal", "delivery_fee", "discount", "restaurant_name", "contact_name", "phone", "address",
            "district", "latitude", "longitude", "note", "cancelled_at", "cancel_reason", "events", "refunds",
            "messages", "change",
        ]


class OrderDetailPageSerializer(OrderDetailSerializer):
    """The order's page (GET): the detail, and whether its 去支付 asks for the welcome too."""

    welcome_pending = serializers.SerializerMethodField(
        help_text="待付款且这家新客户还欠一条欢迎消息：去支付时一并请求 welcome 订阅（crm.welcome）")

    class Meta(OrderDetailSerializer.Meta):
        fields = OrderDetailSerializer.Meta.fields + ["welcome_pending"]

    def get_welcome_pending(self, order) -> bool:
        from crm.welcome import welcome_pending

        return order.status == Order.Status.PENDING_PAYMENT and welcome_pending(customer_id=order.customer_id)


class OrderLineChangeInput(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, help_text="订单中的商品")
    quantity = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0,
                                        help_text="改后的数量：只能减少，按起订量与步长；0 为删除该商品")


class OrderLinesChangeInput(serializers.Serializer):
    """Documents the body; orders.services.order_lines_reduce checks it."""

    lines = OrderLineChangeInput(many=True, help_text="要减少或删除的商品；未列出的不变")


class CheckoutLineInput(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="销售单位的数量，按起订量与步长")


_COORDINATE = r"^-?[0-9]{1,3}(\.[0-9]{1,6})?$"


class CheckoutInput(serializers.Serializer):
    """Documents the checkout's body; orders.services.DeliveryInput.parse and order_place check it."""

    idempotency_key = serializers.RegexField(
        r"^[A-Za-z0-9_-]{8,64}$", max_length=64,
        help_text="客户端为这次结算生成的唯一键（8-64 位字母数字 _ -），重试时不变")
    restaurant_name = serializers.CharField(min_length=2, max_length=80)
    contact_name = serializers.CharField(min_length=1, max_length=40)
    address = serializers.CharField(min_length=5, max_length=200)
    district = serializers.CharField(max_length=20, required=False, allow_blank=True)
    latitude = serializers.RegexField(_COORDINATE, max_length=20, help_text="GCJ-02 纬度，如 \"22.541234\"")
    longitude = serializers.RegexField(_COORDINATE, max_length=20, help_text="GCJ-02 经度，如 \"114.061234\"")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)
    lines = CheckoutLineInput(many=True, required=False,
                              help_text="结算页上确认的商品与数量；不传则结算整个购物车")
    coupon_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1,
                                         help_text="使用的优惠券（我的优惠券中的 id），每单最多一张；不传或 null 为不用券。"
                                                   "服务器校验：过期、未生效、未满门槛、品类不符、非本人、已使用均拒绝（409/404）")


class PaymentParamsSerializer(serializers.Serializer):
    """`wx.requestPayment`'s parameters, signed by the server (wechat.pay.crypto.request_payment_params)."""

    appId = serializers.CharField()  # noqa: N815 - WeChat's own names, passed through as they are
    timeStamp = serializers.CharField()  # noqa: N815
    nonceStr = serializers.CharField()  # noqa: N815
    package = serializers.CharField(help_text="prepay_id=…")
    signType = serializers.CharField()  # noqa: N815
    paySign = serializers.CharField()  # noqa: N815


class CheckoutOutput(serializers.Serializer):
    order = OrderDetailSerializer()
    payment = PaymentParamsSerializer(allow_null=True, help_text="wx.requestPayment 的参数（已签名）")
    payment_error = ErrorSerializer(allow_null=True,
                                    help_text="订单已生成但暂时无法发起支付时的原因；可稍后在订单页支付")


class PaymentOutput(serializers.Serializer):
    payment = PaymentParamsSerializer()


class CustomerProfileSerializer(serializers.Serializer):
    """The restaurant the visitor orders for, as checkout pre-fills it (orders.api._customer_profile)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    contact_name = serializers.CharField()
    phone = serializers.CharField()
    address = serializers.CharField()
    district = serializers.CharField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True, help_text="GCJ-02")
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True, help_text="GCJ-02")


class PhoneOutput(serializers.Serializer):
    customer = CustomerProfileSerializer(allow_null=True)


class CheckoutPreviewSerializer(serializers.Serializer):
    lines = CartLineSerializer(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    delivery_fee = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    min_order_amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="起送额")
    free_delivery_threshold = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="免配送费门槛")
    delivery_date = serializers.DateField(help_text="现在下单的送达日期")
    cutoff_time = serializers.CharField(help_text="每日截单时间，HH:MM")
    problems = serializers.ListField(child=serializers.CharField(), help_text="不能下单的原因（起送额、缺货……）")
    customer = CustomerProfileSerializer(allow_null=True)
    welcome_pending = serializers.BooleanField(
        help_text="这家新餐厅的欢迎消息还在等待授权：付款时的订阅请求里一并申请 welcome 模板（crm.welcome）")
    coupons = CouponOptionSerializer(many=True, help_text="买家当前的优惠券对本单的优惠；可用的在前")
    suggested_coupon_id = serializers.IntegerField(allow_null=True, help_text="推荐使用的一张：优惠最多，同额先到期")


class ReorderOutput(serializers.Serializer):
    cart = CartSerializer()
    notes = serializers.ListField(child=serializers.CharField(), help_text="未能按原单加入的商品及原因")


class PhoneInput(serializers.Serializer):
    code = serializers.CharField(max_length=512, help_text="getPhoneNumber 按钮返回的 code")
    nickname = serializers.CharField(max_length=64, required=False, allow_blank=True)


# ---- The checkout's answer, built without DRF's field machinery -----------------------------
# A fresh order is answered on the hottest path of the product; these plain functions give
# exactly what OrderDetailSerializer gives for it (tests compare the two on the same order).

_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def _amount(value, exponent=_CENT):
    return None if value is None else f"{value.quantize(exponent):f}"


def _moment(value):
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def order_line_data(line: OrderLine) -> dict:
    return {
        "product": line.product_id, "product_code": line.product_code, "product_name": line.product_name,
        "spec": line.spec, "unit": line.unit, "unit_price": _amount(line.unit_price),
        "quantity": _amount(line.quantity), "amount": _amount(line.amount), "catch_weight": line.catch_weight,
    }


def placed_order_data(order: Order) -> dict:
    """OrderDetailSerializer's output for an order checkout has just built in memory (no refunds,
    no messages yet; lines and the first event prefetched)."""
    return {
        "id": str(order.id), "number": order.number, "status": order.status,
        "status_label": order.get_status_display(), "delivery_date": order.delivery_date.isoformat(),
        "total": _amount(order.total), "created_at": _moment(order.created_at), "paid_at": _moment(order.paid_at),
        "expires_at": _moment(order.expires_at), "lines": [order_line_data(line) for line in order.lines.all()],
        "subtotal": _amount(order.subtotal), "delivery_fee": _amount(order.delivery_fee),
        "discount": _amount(order.discount), "restaurant_name": order.restaurant_name,
        "contact_name": order.contact_name, "phone": order.phone, "address": order.address,
        "district": order.district, "latitude": _amount(order.latitude, _MICRO),
        "longitude": _amount(order.longitude, _MICRO), "note": order.note,
        "cancelled_at": _moment(order.cancelled_at), "cancel_reason": order.cancel_reason,
        "events": [
            {"from_status": event.from_status, "to_status": event.to_status,
             "to_status_label": Order.Status(event.to_status).label, "note": event.note,
             "created_at": _moment(event.created_at)}
            for event in order.events.all()
        ],
        "refunds": [], "messages": [], "change": None,
    }
