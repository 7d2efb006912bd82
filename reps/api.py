"""The rep assistant's API. Only an active rep, and only their own customers and entries."""

from datetime import datetime

from django.middleware.csrf import get_token
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core import geo
from core.errors import ApplicationError, ValidationFailed
from core.inputs import aware_datetime_param
from core.schema import REP_SESSION, REP_SESSION_OR_FEED_TOKEN, documented_by, error_response, errors, paginated

from . import selectors, services
from .assistant_reads import assistant_read, customers_body, inbox_messages, summary_body
from .codes import rep_contact_way_ensure
from .feed import FEED_TOKEN_MAX_AGE, feed_poll, feed_token_make
from .qr import SHARE_SCENE, rep_entry_path
from .serializers import (
    CustomerDetailOutput,
    CustomerRowSerializer,
    FeedOutput,
    InboxOutput,
    MeOutput,
    NearbyOutput,
    SummaryOutput,
    VisitNoteOutput,
    WeComContactsOutput,
)

_NOT_A_REP = errors(403)  # not logged in as an active rep (not_a_rep), or a write without the CSRF token


class RepApiView(APIView):
    permission_classes = [IsAuthenticated]
    api_auth = REP_SESSION

    def rep(self, request):
        return selectors.rep_for_user(request.user)


def _money(value) -> str:
    return f"{value:.2f}"


class MeApi(RepApiView):
    @extend_schema(responses={200: MeOutput, **_NOT_A_REP},
                   summary="业务员助手首页的启动数据：我是谁、二维码与名片地址、分享链接、订单动态令牌")
    def get(self, request):
        """What the assistant's shell (the same page for every rep) needs to become this rep's page.

        Also hands out the csrftoken cookie the page's writes need (the shell carries no token)."""
        rep = self.rep(request)
        get_token(request)
        contact_error = ""
        try:
            contact_qr = rep_contact_way_ensure(rep)  # made once, then read from the row
        except ApplicationError as error:
            contact_qr, contact_error = "", error.message
        response = Response({
            "rep": {"id": rep.pk, "name": rep.name, "key": rep.key, "territory": rep.territory, "scene": rep.scene},
            # The key in the query keys the browser's copy of the image (kept an hour) to this rep.
            "qr_url": f"{reverse('rep:qr')}?key={rep.key}",
            "card_url": reverse("rep:card"),
            "share_url": request.build_absolute_uri(rep_entry_path(rep, launch_scene=SHARE_SCENE)),
            "feed_token": feed_token_make(rep),
            "feed_token_max_age": int(FEED_TOKEN_MAX_AGE.total_seconds()),
            "contact_qr_url": f"{reverse('rep:contact-qr')}?c={rep.wecom_config_id[-8:]}" if contact_qr else None,
            "contact_error": contact_error,
        })
        response["Cache-Control"] = "private, no-store"
        return response


class SummaryApi(RepApiView):
    api_auth = REP_SESSION_OR_FEED_TOKEN  # the plain view below also takes the feed token (reps.assistant_reads)
    @extend_schema(responses={200: SummaryOutput, **_NOT_A_REP},
                   summary="业务员首页：今日/本周进入（按场景）、客户数、今日订单")
    def get(self, request):
        return Response(summary_body(self.rep(request)))


class CustomerPagination(PageNumberPagination):
    page_size = 30


def _customer_row(customer) -> dict:
    return {
        "id": customer.pk, "name": customer.name, "contact_name": customer.contact_name, "phone": customer.phone,
        "district": customer.district, "address": customer.address, "created_at": customer.created_at,
        "last_order_at": customer.last_order_at, "total_spend": _money(customer.total_spend),
        "acquired_by_me": customer.acquired_by_id == customer.rep_id,
    }


class CustomerListApi(RepApiView):
    api_auth = REP_SESSION_OR_FEED_TOKEN  # the plain view below also takes the feed token (reps.assistant_reads)
    @extend_schema(responses={200: paginated("RepCustomerPage", CustomerRowSerializer(many=True)), **_NOT_A_REP,
                              404: error_response(404, "页码超出范围")},
                   parameters=[OpenApiParameter("page", int, description="页码，从 1 起；超出范围为 404")],
                   operation_id="v1_rep_customers_list", summary="我的客户（最新在前，含最近下单与累计消费）")
    def get(self, request):
        rep = self.rep(request)
        paginator = CustomerPagination()
        page = paginator.paginate_queryset(selectors.rep_customers(rep=rep), request, self)
        return paginator.get_paginated_response([_customer_row(c) for c in page])


def _order_row(order) -> dict:
    return {"id": str(order.pk), "number": order.number, "restaurant_name": order.restaurant_name,
            "customer_id": order.customer_id, "total": _money(order.total), "status": order.status,
            "status_label": order.get_status_display(), "paid_at": order.paid_at,
            "delivery_date": order.delivery_date}


class CustomerDetailApi(RepApiView):
    @extend_schema(responses={200: CustomerDetailOutput, **_NOT_A_REP}, summary="客户详情：订单与拜访记录")
    def get(self, request, customer_id: int):
        rep = self.rep(request)
        customer, orders, notes = selectors.rep_customer_detail(rep=rep, customer_id=customer_id)
        return Response({
            "customer": {"id": customer.pk, "name": customer.name, "contact_name": customer.contact_name,
                         "phone": customer.phone, "address": customer.address, "district": customer.district,
                         "latitude": customer.latitude, "longitude": customer.longitude,
                         "last_order_at": customer.last_order_at},
            "orders": [_order_row(o) for o in orders],
            "notes": [{"id": n.pk, "note": n.note, "created_at": n.created_at, "rep": n.rep.name,
                       "latitude": n.latitude, "longitude": n.longitude} for n in notes],
        })


class VisitNoteInput(serializers.Serializer):
    note = serializers.CharField(max_length=500)
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    coordinate_system = serializers.ChoiceField(
        choices=["gcj02", "wgs84"], default="gcj02",
        help_text="latitude/longitude 的坐标系：gcj02（wx.getLocation）或 wgs84（浏览器定位）；保存为 GCJ-02")


class VisitNoteApi(RepApiView):
    @extend_schema(request=VisitNoteInput, responses={201: VisitNoteOutput, **_NOT_A_REP}, summary="记录拜访")
    def post(self, request, customer_id: int):
        rep = self.rep(request)
        data = VisitNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.visit_note_add(rep=rep, customer_id=customer_id, **data.validated_data)
        return Response({"id": note.pk, "note": note.note, "created_at": note.created_at}, status=201)


class FeedApi(RepApiView):
    @extend_schema(parameters=[OpenApiParameter("after", str, description="上次收到的最新 paid_at (ISO 8601)")],
                   responses={200: FeedOutput, **_NOT_A_REP}, summary="我的客户的新付款订单（轮询）")
    def get(self, request):
        rep = self.rep(request)
        after: datetime | None = None
        raw = request.query_params.get("after")
        if raw:
            after = aware_datetime_param(raw, name="after")
        orders = selectors.rep_order_feed(rep=rep, after=after)
        return Response({"orders": [_order_row(o) for o in orders],
                         "latest": orders[0].paid_at if orders else raw or None})


class InboxApi(RepApiView):
    api_auth = REP_SESSION_OR_FEED_TOKEN  # the plain view below also takes the feed token (reps.assistant_reads)
    @extend_schema(responses={200: InboxOutput, **_NOT_A_REP}, summary="我的消息（流失提醒等），最新在前")
    def get(self, request):
        return Response({"messages": inbox_messages(rep=self.rep(request))})


class NearbyApi(RepApiView):
    @extend_schema(parameters=[OpenApiParameter("latitude", float, required=True),
                               OpenApiParameter("longitude", float, required=True),
                               OpenApiParameter("coordinate_system", str, enum=["gcj02", "wgs84"],
                                                description="位置的坐标系，默认 gcj02（wx.getLocation）；浏览器定位为 wgs84"),
                               OpenApiParameter("radius_km", float, description="默认 5"),
                               OpenApiParameter("limit", int, description="默认 50")],
                   responses={200: NearbyOutput, **_NOT_A_REP}, summary="附近的流失/预警客户（由近到远，GCJ-02）")
    def get(self, request):
        from customers.churn import lapsing_customers_near

        rep = self.rep(request)
        params = request.query_params
        try:
            radius = float(params.get("radius_km") or 5)
            limit = int(params.get("limit") or 50)
        except ValueError:
            raise ValidationFailed("radius_km / limit 须为数字", code="invalid_parameter")
        datum = geo.datum_param(params.get("coordinate_system"), code="invalid_parameter")
        rows = lapsing_customers_near(rep=rep, latitude=params.get("latitude"), longitude=params.get("longitude"),
                                      radius_km=radius, limit=limit, datum=datum)
        lat, lng = geo.to_gcj02(float(params["latitude"]), float(params["longitude"]), datum=datum)
        return Response({"origin": {"latitude": f"{lat:.6f}", "longitude": f"{lng:.6f}"}, "customers": [
            {"id": r["pk"], "name": r["name"], "address": r["address"], "phone": r["phone"], "status": r["status"],
             "latitude": str(r["latitude"]), "longitude": str(r["longitude"]), "last_order_at": r["last_order_at"],
             "distance_km": r["distance_km"]} for r in rows]})


class WeComContactsApi(RepApiView):
    @extend_schema(responses={200: WeComContactsOutput, **_NOT_A_REP},
                   summary="我的企业微信客户（由企业微信回调记录，最近添加在前）")
    def get(self, request):
        rep = self.rep(request)
        contacts, active = selectors.rep_wecom_contacts(rep=rep)
        return Response({"active": active, "contacts": [
            {"id": c.pk, "name": c.name, "status": c.status, "status_label": c.get_status_display(),
             "added_at": c.added_at, "removed_at": c.removed_at, "customer_id": c.customer_id,
             "customer_name": c.customer.name if c.customer_id else None} for c in contacts]})


class FeedPollSchema(APIView):
    """Documents reps.feed.feed_poll, which serves the polls without DRF (see its module)."""

    authentication_classes = []

    @extend_schema(
        parameters=[OpenApiParameter("after", str, description="上次收到的 latest（ISO 8601，带时区）"),
                    OpenApiParameter("token", str, description="feed_token，也可放在 X-Feed-Token 头")],
        responses={200: FeedOutput, **errors(400),
                   401: error_response(401, "feed_token 无效或过期（feed_token_invalid）"),
                   403: error_response(403, "不是在职业务员（not_a_rep）")},
        auth=[{"feedToken": []}], operation_id="v1_rep_feed_poll",
        summary="订单动态轮询（轻量）：凭 /rep/me 的 feed_token，无需会话",
    )
    def get(self, request):  # pragma: no cover - documentation only
        raise NotImplementedError


feed_poll = documented_by(FeedPollSchema)(feed_poll)


# The assistant page's reads, served without DRF (reps.assistant_reads); the classes above stay
# their schema and answer whatever the plain views hand back (errors, other methods, odd pages).
@assistant_read(SummaryApi)
def summary(request, rep):
    return summary_body(rep)


@assistant_read(CustomerListApi)
def customers(request, rep):
    return customers_body(request, rep)


@assistant_read(InboxApi)
def inbox(request, rep):
    return {"messages": inbox_messages(rep=rep)}
