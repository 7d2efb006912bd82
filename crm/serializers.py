"""The crm API's inputs and answers, as the schema describes them (crm/api.py builds dicts)."""

from rest_framework import serializers


class CustomerTagOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="标签 id")
    name = serializers.CharField()
    group_id = serializers.IntegerField()
    group = serializers.CharField(help_text="标签组名称")
    source = serializers.ChoiceField(choices=["manual", "auto"], help_text="manual 手动 / auto 每晚按规则自动")


class PickerTagOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PickerGroupOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    tags = PickerTagOutput(many=True)


class CustomerTagsOutput(serializers.Serializer):
    tags = CustomerTagOutput(many=True, help_text="客户当前的全部标签（手动与自动）")
    groups = PickerGroupOutput(many=True, help_text="可手动设置的标签组及其标签")


class CustomerTagsInput(serializers.Serializer):
    tag_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**62), max_length=100,
                                    help_text="客户的手动标签设为这些（自动标签不受影响）；空列表即清除手动标签")
