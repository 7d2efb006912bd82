from rest_framework import serializers

from .models import Notification


class SubscribeResultInput(serializers.Serializer):
    result = serializers.DictField(
        child=serializers.CharField(max_length=64), allow_empty=False,
        help_text="wx.requestSubscribeMessage 的成功结果原样提交：{\"errMsg\": \"requestSubscribeMessage:ok\", "
                  "\"<模板 ID>\": \"accept\" | \"reject\" | \"ban\" | \"filter\"}，最多 5 个模板")


class SubscribeConsentOutput(serializers.Serializer):
    available = serializers.DictField(child=serializers.IntegerField(min_value=0),
                                      help_text="本次提交的每个模板（按我方模板名）剩余可发送次数：每次同意可发一条")


class CustomerMessageSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    channel_label = serializers.CharField(source="get_channel_display")

    class Meta:
        model = Notification
        fields = ["id", "template", "title", "body", "link", "channel", "channel_label", "status", "status_label",
                  "created_at", "sent_at"]
