"""The customer's complaints API (visitor token, own complaints only). Views are thin: the rules
are in services (writes) and selectors (reads)."""

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from aftersales.photos import photos_body_check
from catalog.api import current_visitor
from core.errors import ValidationFailed
from core.schema import VISITOR, error_response, errors, paginated

from . import selectors, services
from .serializers import ComplaintCreateInput, ComplaintSerializer


class ComplaintPagination(PageNumberPagination):
    page_size = 20


def _order_id(raw) -> uuid.UUID | None:
    raw = str(raw or "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed("订单编号格式不正确", code="order_id_invalid", details={"order_id": ["格式不正确"]}) from None


class ComplaintListApi(APIView):
    api_auth = VISITOR
    parser_classes = [MultiPartParser]

    @extend_schema(responses={200: paginated("ComplaintPage", ComplaintSerializer(many=True)),
                              404: error_response(404, "页码超出范围")},
                   parameters=[OpenApiParameter("page", int, description="页码，从 1 起；超出范围为 404")],
                   summary="我的投诉（含状态与每条回复）", operation_id="v1_complaints_list")
    def get(self, request):
        visitor = current_visitor(request)
        paginator = ComplaintPagination()
        page = paginator.paginate_queryset(selectors.customer_complaints(customer_id=visitor.customer_id),
                                           request, self)
        return paginator.get_paginated_response(ComplaintSerializer(page, many=True).data)

    @extend_schema(request={"multipart/form-data": ComplaintCreateInput},
                   responses={201: ComplaintSerializer, **errors(403),
                              404: error_response(404, "订单不存在（或不是本人的订单）")},
                   summary="投诉（可针对本人的某个订单，也可不涉及订单；可附照片）",
                   description="类别无效、内容为空或过长、他人订单、非图片或过大的照片均被拒绝，且不保存任何内容。"
                               "尚未绑定餐厅（未授权手机号）的访客不能投诉（403）。")
    def post(self, request):
        visitor = current_visitor(request)
        photos_body_check(request)
        data = request.data
        created = services.complaint_file(
            visitor=visitor, category=str(data.get("category") or ""), text=str(data.get("text") or ""),
            order_id=_order_id(data.get("order_id")), photos=request.FILES.getlist("photos"))
        return Response(ComplaintSerializer(selectors.customer_complaint_get(
            customer_id=visitor.customer_id, complaint_id=created.pk)).data, status=201)


class ComplaintDetailApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=ComplaintSerializer, summary="投诉详情：状态与每条回复")
    def get(self, request, complaint_id):
        visitor = current_visitor(request)
        return Response(ComplaintSerializer(selectors.customer_complaint_get(
            customer_id=visitor.customer_id, complaint_id=complaint_id)).data)
