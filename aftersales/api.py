"""The customer's after-sales API (visitor token, own orders only). Views are thin: the rules are
in services (writes) and selectors (reads)."""

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import current_visitor
from core.errors import ValidationFailed
from core.inputs import json_parse
from core.schema import VISITOR, error_response, errors, paginated

from . import selectors, services
from .photos import photos_body_check
from .serializers import (
    AfterSalesCreateInput,
    AfterSalesPhotosInput,
    AfterSalesRequestSerializer,
    OrderAfterSalesSerializer,
)


class AfterSalesPagination(PageNumberPagination):
    page_size = 20


def _order_id(raw) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw or "").strip())
    except ValueError:
        raise ValidationFailed("请选择订单", code="order_id_invalid", details={"order_id": ["格式不正确"]}) from None


def _lines(raw):
    if isinstance(raw, list):
        return raw
    try:
        return json_parse(raw or "null")
    except ValidationFailed:
        raise ValidationFailed("商品行格式不正确", code="lines_invalid") from None


class AfterSalesListApi(APIView):
    api_auth = VISITOR
    parser_classes = [MultiPartParser]

    @extend_schema(responses={200: paginated("AfterSalesPage", AfterSalesRequestSerializer(many=True)),
                              404: error_response(404, "页码超出范围")},
                   parameters=[OpenApiParameter("page", int, description="页码，从 1 起；超出范围为 404")],
                   summary="我的售后申请（含处理进度与每条回复）", operation_id="v1_aftersales_list")
    def get(self, request):
        visitor = current_visitor(request)
        paginator = AfterSalesPagination()
        page = paginator.paginate_queryset(selectors.customer_requests(customer_id=visitor.customer_id), request, self)
        return paginator.get_paginated_response(AfterSalesRequestSerializer(page, many=True).data)

    @extend_schema(request={"multipart/form-data": AfterSalesCreateInput},
                   responses={201: AfterSalesRequestSerializer, **errors(409)},
                   summary="申请售后（已送达订单，售后期限内；可附照片）",
                   description="超出期限、他人订单、数量超过实发、非图片或过大的照片、已有处理中申请的商品均被拒绝，且不保存任何内容。")
    def post(self, request):
        visitor = current_visitor(request)
        photos_body_check(request)
        data = request.data
        created = services.request_create(
            customer_id=visitor.customer_id, order_id=_order_id(data.get("order_id")),
            reason=str(data.get("reason") or ""), note=str(data.get("note") or ""),
            lines=_lines(data.get("lines")), photos=request.FILES.getlist("photos"))
        return Response(AfterSalesRequestSerializer(selectors.customer_request_get(
            customer_id=visitor.customer_id, request_id=created.pk)).data, status=201)


class AfterSalesDetailApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=AfterSalesRequestSerializer, summary="售后申请详情：状态与每条回复")
    def get(self, request, request_id):
        visitor = current_visitor(request)
        return Response(AfterSalesRequestSerializer(selectors.customer_request_get(
            customer_id=visitor.customer_id, request_id=request_id)).data)


class AfterSalesPhotosApi(APIView):
    api_auth = VISITOR
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": AfterSalesPhotosInput},
                   responses={200: AfterSalesRequestSerializer, **errors(409)},
                   summary="补充照片（客服要求补充时）")
    def post(self, request, request_id):
        visitor = current_visitor(request)
        photos_body_check(request)
        services.request_photos_add(customer_id=visitor.customer_id, request_id=request_id,
                                    photos=request.FILES.getlist("photos"))
        return Response(AfterSalesRequestSerializer(selectors.customer_request_get(
            customer_id=visitor.customer_id, request_id=request_id)).data)


class OrderAfterSalesApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=OrderAfterSalesSerializer, summary="订单的售后：可申请的商品、期限与已有申请")
    def get(self, request, order_id):
        visitor = current_visitor(request)
        return Response(OrderAfterSalesSerializer(selectors.order_aftersales(
            customer_id=visitor.customer_id, order_id=order_id)).data)
