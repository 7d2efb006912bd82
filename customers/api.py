from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import current_visitor
from core.errors import ValidationFailed
from core.schema import PUBLIC, VISITOR, errors
from reps.services import LAUNCH_ID, entry_record, scene_validate

from .services import visitor_login
from .throttling import SessionIpThrottle


class LaunchFields(serializers.Serializer):
    """How the mini program was opened: App.onLaunch/onShow's `scene` and `query.scene`."""

    scene = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                  help_text="decodeURIComponent(query.scene)，如 r=7F3K")
    launch_scene = serializers.IntegerField(required=False, allow_null=True, min_value=1000, max_value=9999,
                                            help_text="场景值，如 1047 扫码、1048 长按识别、1007 分享卡片")
    launch_id = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                      help_text="客户端为每次启动生成的 ID，重试时不变")

    def validate_scene(self, value):
        if value:
            try:
                scene_validate(value)
            except ValidationFailed as error:
                raise serializers.ValidationError(error.message)
        return value

    def validate_launch_id(self, value):
        if value and not LAUNCH_ID.match(value):
            raise serializers.ValidationError("launch_id 无效")
        return value

    def has_launch(self) -> bool:
        data = self.validated_data
        return bool(data.get("scene") or data.get("launch_scene"))


class SessionInput(LaunchFields):
    code = serializers.CharField(max_length=512, help_text="wx.login() 返回的 code")


_SessionOutput = inline_serializer(
    "VisitorSession",
    {
        "token": serializers.CharField(),
        "visitor": inline_serializer(
            "VisitorBrief",
            {"id": serializers.IntegerField(), "is_customer": serializers.BooleanField(),
             "nickname": serializers.CharField()},
        ),
    },
)


def _record_launch(visitor, data: LaunchFields, *, first_login: bool) -> None:
    values = data.validated_data
    entry_record(visitor=visitor, scene=values.get("scene") or "", launch_scene=values.get("launch_scene"),
                 launch_id=values.get("launch_id") or "", first_login=first_login)


class SessionApi(APIView):
    """The mini program's silent login: wx.login code → visitor token. No phone, no name.

    The launch (scene) may come along, so a first visit through a rep's code is one round trip.
    Launch fields are checked before the code is spent: a bad scene changes nothing.
    """

    authentication_classes = []
    api_auth = PUBLIC
    throttle_classes = [SessionIpThrottle]

    @extend_schema(request=SessionInput, responses={201: _SessionOutput, 200: _SessionOutput, **errors(502)},
                   summary="静默登录（wx.login code 换访客凭证）",
                   description="新访客 201，已有访客 200；code 无效或已用过为 400。")
    def post(self, request):
        data = SessionInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = visitor_login(code=data.validated_data["code"])
        visitor = result.visitor
        if data.has_launch() or result.created:
            _record_launch(visitor, data, first_login=result.created)
        return Response(
            {
                "token": result.token,
                "visitor": {"id": visitor.pk, "is_customer": visitor.customer_id is not None,
                            "nickname": visitor.nickname},
            },
            status=201 if result.created else 200,
        )


class EntryApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=LaunchFields, responses={204: None}, summary="记录一次进入（onLaunch/onShow 的场景值）")
    def post(self, request):
        visitor = current_visitor(request)
        data = LaunchFields(data=request.data)
        data.is_valid(raise_exception=True)
        _record_launch(visitor, data, first_login=False)
        return Response(status=204)
