"""The rep assistant API's answers, as the schema describes them (reps/api.py builds them as dicts)."""

from rest_framework import serializers

from customers.models import Customer
from orders.models import Order

_MONEY = {"max_digits": 12, "decimal_places": 2}


class RepBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    key = serializers.CharField()
    scene = serializers.CharField(help_text="小程序码的 scene，如 r=7F3K")


class RepProfileSerializer(RepBriefSerializer):
    territory = serializers.CharField()


class MeOutput(serializers.Serializer):
    rep = RepProfileSerializer()
    qr_url = serializers.CharField(help_text="我的小程序码图片（站内路径）")
    card_url = serializers.CharField(help_text="我的名片页（站内路径）")
    share_url = serializers.URLField(help_text="分享给客户的进入链接")
    feed_token = serializers.CharField(help_text="X-Feed-Token：GET /api/v1/rep/feed/poll，以及 summary、customers、inbox 免会话读取")
    feed_token_max_age = serializers.IntegerField(help_text="feed_token 的有效期（秒）")
    contact_qr_url = serializers.CharField(allow_null=True,
                                           help_text="我的企业微信“联系我”二维码图片（站内路径）；未设置企业微信账号时为 null")
    contact_error = serializers.CharField(help_text="联系我二维码暂时无法生成时的原因，否则为空")


class SummaryOutput(serializers.Serializer):
    rep = RepBriefSerializer()
    entries_today = serializers.DictField(child=serializers.IntegerField(), help_text="今日进入次数，按场景")
    entries_week = serializers.DictField(child=serializers.IntegerField(), help_text="本周进入次数，按场景")
    customers = serializers.IntegerField()
    new_customers_week = serializers.IntegerField()
    won_back_month = serializers.IntegerField()
    lapsing = serializers.IntegerField(help_text="流失与预警客户数")
    orders_today = serializers.IntegerField()
    gmv_today = serializers.DecimalField(**_MONEY)


class CustomerRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    contact_name = serializers.CharField()
    phone = serializers.CharField()
    district = serializers.CharField()
    address = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_order_at = serializers.DateTimeField(allow_null=True)
    total_spend = serializers.DecimalField(**_MONEY)
    acquired_by_me = serializers.BooleanField()


class OrderRowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    restaurant_name = serializers.CharField()
    customer_id = serializers.IntegerField()
    total = serializers.DecimalField(**_MONEY)
    status = serializers.ChoiceField(choices=Order.Status.choices)
    status_label = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)
    delivery_date = serializers.DateField()


class CustomerCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    contact_name = serializers.CharField()
    phone = serializers.CharField()
    address = serializers.CharField()
    district = serializers.CharField()
    latitude = serializers.FloatField(allow_null=True, help_text="GCJ-02")
    longitude = serializers.FloatField(allow_null=True, help_text="GCJ-02")
    last_order_at = serializers.DateTimeField(allow_null=True)


class VisitNoteRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    rep = serializers.CharField(help_text="记录人")
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)


class CustomerDetailOutput(serializers.Serializer):
    customer = CustomerCardSerializer()
    orders = OrderRowSerializer(many=True)
    notes = VisitNoteRowSerializer(many=True)


class VisitNoteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class FeedOutput(serializers.Serializer):
    orders = OrderRowSerializer(many=True, help_text="新付款的订单，最新在前")
    latest = serializers.CharField(allow_null=True, help_text="最新的 paid_at，下次作为 ?after= 传回")


class InboxMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    link = serializers.CharField()
    template = serializers.CharField()
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()


class InboxOutput(serializers.Serializer):
    messages = InboxMessageSerializer(many=True)


class NearbyCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()
    phone = serializers.CharField()
    status = serializers.ChoiceField(choices=Customer.Status.choices)
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    last_order_at = serializers.DateTimeField(allow_null=True)
    distance_km = serializers.FloatField()


class PositionSerializer(serializers.Serializer):
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6)


class NearbyOutput(serializers.Serializer):
    origin = PositionSerializer(help_text="查询中心（已换算为 GCJ-02，地图上“我在这里”的位置）")
    customers = NearbyCustomerSerializer(many=True, help_text="由近到远")


class WeComContactRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="微信昵称（企业微信客户资料）")
    status = serializers.CharField(help_text="active 已添加；removed_by_rep / removed_by_customer 已删除；transferred 已转接")
    status_label = serializers.CharField()
    added_at = serializers.DateTimeField()
    removed_at = serializers.DateTimeField(allow_null=True)
    customer_id = serializers.IntegerField(allow_null=True, help_text="已关联的客户（同一手机号或 unionid）")
    customer_name = serializers.CharField(allow_null=True)


class WeComContactsOutput(serializers.Serializer):
    contacts = WeComContactRowSerializer(many=True, help_text="最近添加在前，最多 100 位")
    active = serializers.IntegerField(help_text="当前企业微信客户数")
