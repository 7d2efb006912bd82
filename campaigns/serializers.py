"""The campaigns API's inputs and answers, as the schema describes them (campaigns/api.py builds dicts)."""

from rest_framework import serializers

from .models import Campaign, CampaignRecipient

_MONEY = {"max_digits": 14, "decimal_places": 2}


class TaskOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="任务 id（标记已发送时用）")
    customer_id = serializers.IntegerField()
    customer_name = serializers.CharField()
    contact_name = serializers.CharField()
    status = serializers.ChoiceField(choices=[CampaignRecipient.Status.PENDING, CampaignRecipient.Status.SENT],
                                     help_text="pending 待发送 / sent 已发送")
    sent_at = serializers.DateTimeField(allow_null=True)
    link = serializers.URLField(help_text="该客户的专属追踪链接")
    message = serializers.CharField(help_text="复制后在企业微信/微信里发给客户的完整消息（含链接）")


class TaskCampaignOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    text = serializers.CharField()
    coupon = serializers.CharField(help_text="随活动发放的优惠券，没有为空")
    sent_at = serializers.DateTimeField()
    pending = serializers.IntegerField(help_text="待发送的客户数")
    tasks = TaskOutput(many=True)


class TasksOutput(serializers.Serializer):
    campaigns = TaskCampaignOutput(many=True, help_text="最近 30 天的业务员群发任务，只含我的客户")


class TaskSentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[CampaignRecipient.Status.SENT])
    sent_at = serializers.DateTimeField()


class ResultOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices)
    status = serializers.ChoiceField(choices=[Campaign.Status.SENDING, Campaign.Status.SENT])
    sent_at = serializers.DateTimeField(help_text="点击发送的时间")
    finished_at = serializers.DateTimeField(allow_null=True)
    recipients = serializers.IntegerField(help_text="发送时分群中的客户")
    sent = serializers.IntegerField(help_text="已送达（微信已发出 / 业务员已发送）")
    pending = serializers.IntegerField(help_text="已交出、尚未发出")
    skipped = serializers.IntegerField(help_text="未发合计")
    skipped_cap = serializers.IntegerField(help_text="未发：本月已达上限")
    no_consent = serializers.IntegerField(help_text="未发：未订阅")
    no_rep = serializers.IntegerField(help_text="未发：没有业务员")
    failed = serializers.IntegerField(help_text="发送失败或结果未知（订阅消息）")
    opened = serializers.IntegerField(help_text="打开过链接的客户")
    opens = serializers.IntegerField(help_text="链接打开次数")
    ordered = serializers.IntegerField(help_text="7 天内下单（每单只归最近一次触达的活动；全额退款的不算）")
    gmv = serializers.DecimalField(help_text="7 天内成交额（扣除退款）", **_MONEY)
    coupons_used = serializers.IntegerField(help_text="活动所发优惠券已使用张数")


class ResultsOutput(serializers.Serializer):
    results = ResultOutput(many=True)
