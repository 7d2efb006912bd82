from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .services import visitor_login


class SessionInput(serializers.Serializer):
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


class SessionApi(APIView):
    """The mini program's silent login: wx.login code → visitor token. No phone, no name."""

    authentication_classes = []

    @extend_schema(request=SessionInput, responses=_SessionOutput, summary="静默登录（wx.login code 换访客凭证）")
    def post(self, request):
        data = SessionInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = visitor_login(code=data.validated_data["code"])
        visitor = result.visitor
        return Response(
            {
                "token": result.token,
                "visitor": {"id": visitor.pk, "is_customer": visitor.customer_id is not None,
                            "nickname": visitor.nickname},
            },
            status=201 if result.created else 200,
        )
