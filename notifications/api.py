"""The customer's messages and their subscribe-message consent (visitor token). Thin: the rules
are in notifications.consent and notifications.selectors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import current_visitor
from core.schema import VISITOR, error_response, paginated

from . import selectors
from .consent import consent_record, subscribe_result_parse
from .serializers import CustomerMessageSerializer, SubscribeConsentOutput, SubscribeResultInput


class MessagePagination(PageNumberPagination):
    page_size = 20


class SubscribeConsentApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=SubscribeResultInput, responses=SubscribeConsentOutput,
                   summary="记录订阅消息授权（wx.requestSubscribeMessage 的结果）",
                   description="每个 accept 允许向该用户发送一条该模板的订阅消息；reject、ban、filter 只记录选择。"
                               "未知模板、非微信格式的结果整体拒绝，不保存任何内容。")
    def post(self, request):
        visitor = current_visitor(request)
        data = SubscribeResultInput(data=request.data)
        data.is_valid(raise_exception=True)
        results = subscribe_result_parse(data.validated_data["result"])
        return Response({"available": consent_record(openid=visitor.openid, results=results)})


class MessageListApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses={200: paginated("MessagePage", CustomerMessageSerializer(many=True)),
                              404: error_response(404, "页码超出范围")},
                   parameters=[OpenApiParameter("page", int, description="页码，从 1 起；超出范围为 404")],
                   summary="我的消息：订阅消息与站内消息（含是否已通过微信发送）", operation_id="v1_messages_list")
    def get(self, request):
        visitor = current_visitor(request)
        paginator = MessagePagination()
        page = paginator.paginate_queryset(selectors.customer_messages(customer_id=visitor.customer_id), request, self)
        return paginator.get_paginated_response(CustomerMessageSerializer(page, many=True).data)
