import logging
from functools import lru_cache

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import current_visitor
from catalog.selectors import cart_lines
from catalog.pricing import buyer_of
from catalog.serializers import cart_representation
from core.errors import ApplicationError, NotAuthenticated, ValidationFailed
from coupons.api import checkout_coupon_options
from crm.welcome import welcome_pending
from core.inputs import json_parse
from core.schema import PUBLIC, VISITOR, documented_by, error_response, errors, paginated
from customers.authentication import KEYWORD as VISITOR_KEYWORD
from customers.services import customer_bind_phone
from customers.throttling import PhoneIpThrottle, PhoneVisitorThrottle
from customers.tokens import visitor_token_read
from wechat.backends import get_backend
from wechat.pay.crypto import NotificationRejected

from . import selectors, services
from .models import OrderSettings
from .serializers import (
    CheckoutInput,
    CheckoutOutput,
    CheckoutPreviewSerializer,
    OrderDetailSerializer,
    OrderDetailPageSerializer,
    OrderLinesChangeInput,
    OrderSummarySerializer,
    PaymentOutput,
    PhoneInput,
    PhoneOutput,
    ReorderOutput,
    placed_order_data,
)
from .services.payments import PaymentRejected

logger = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def _notify_path() -> str:
    return reverse("wechatpay-notify")


def _notify_url(request) -> str:
    # In production WECHATPAY_NOTIFY_URL names the public https address; otherwise the site as
    # this request reached it (the dev backend posts its notifications there).
    return settings.WECHATPAY_NOTIFY_URL or request.build_absolute_uri(_notify_path())


def _customer_profile(visitor) -> dict | None:
    customer = visitor.customer
    if customer is None:
        return None
    return {
        "id": customer.pk, "name": customer.name, "contact_name": customer.contact_name, "phone": customer.phone,
        "address": customer.address, "district": customer.district,
        "latitude": str(customer.latitude) if customer.latitude is not None else None,
        "longitude": str(customer.longitude) if customer.longitude is not None else None,
    }


class PhoneApi(APIView):
    api_auth = VISITOR
    throttle_classes = [PhoneVisitorThrottle, PhoneIpThrottle]

    @extend_schema(request=PhoneInput, responses={200: PhoneOutput, **errors(502)},
                   summary="授权手机号与昵称（付款前）")
    def post(self, request):
        visitor = current_visitor(request)
        data = PhoneInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer_bind_phone(visitor=visitor, phone_code=data.validated_data["code"],
                            nickname=data.validated_data.get("nickname", ""))
        return Response({"customer": _customer_profile(visitor)})


class CheckoutApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=CheckoutPreviewSerializer,
                   summary="结算预览：服务器计算的金额、配送费、起送额、送达日期，以及可用的优惠券与推荐的一张")
    def get(self, request):
        visitor = current_visitor(request)
        quote = services.order_quote(visitor=visitor)
        rules = OrderSettings.current()
        view = cart_representation(lines=quote.lines, buyer=buyer_of(visitor.customer))
        return Response({
            "lines": view["lines"], "subtotal": str(quote.subtotal), "delivery_fee": str(quote.delivery_fee),
            "total": str(quote.total), "min_order_amount": str(quote.min_order_amount),
            "free_delivery_threshold": str(rules.free_delivery_threshold),
            "delivery_date": quote.delivery_date.isoformat(), "cutoff_time": rules.cutoff_time.strftime("%H:%M"),
            "problems": quote.problems, "customer": _customer_profile(visitor),
            "welcome_pending": welcome_pending(customer_id=visitor.customer_id),
            **checkout_coupon_options(customer_id=visitor.customer_id, lines=view["lines"], subtotal=quote.subtotal,
                                      delivery_fee=quote.delivery_fee),
        })


class OrderPagination(PageNumberPagination):
    page_size = 20


class OrderListApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses={200: paginated("OrderPage", OrderSummarySerializer(many=True)),
                              404: error_response(404, "页码超出范围")}, summary="我的订单",
                   parameters=[OpenApiParameter("page", int, description="页码，从 1 起；超出范围为 404")],
                   operation_id="v1_orders_list")
    def get(self, request):
        visitor = current_visitor(request)
        if not visitor.customer_id:
            return Response({"count": 0, "next": None, "previous": None, "results": []})
        paginator = OrderPagination()
        page = paginator.paginate_queryset(selectors.customer_orders(customer_id=visitor.customer_id), request, self)
        return paginator.get_paginated_response(OrderSummarySerializer(page, many=True).data)

    def dispatch(self, request, *args, **kwargs):
        # Checkout is the hottest write of the product: it is answered without DRF's request,
        # negotiation and serializer machinery (checkout_endpoint below); the list stays DRF.
        if request.method == "POST":
            return checkout_endpoint(request)
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(request=CheckoutInput,
                   responses={201: CheckoutOutput, 200: CheckoutOutput, **errors(403, 409),
                              404: error_response(404, "优惠券不存在或不属于你（coupon_not_found）")},
                   summary="提交订单（幂等）并取得支付参数",
                   description="`lines` 为结算页上买家确认的商品与数量，订单即按此下单（价格、运费以服务器为准），"
                               "这些商品随后移出购物车；不传 `lines` 则结算整个购物车。同一 `idempotency_key` "
                               "重试返回同一订单（200）。")
    def post(self, request):  # documents the operation; dispatch() serves it
        return checkout_endpoint(request._request)


class UnsupportedMediaType(ApplicationError):
    code = "unsupported_media_type"
    status_code = 415
    default_message = "不支持的请求格式，请以 JSON 提交"


def _json_error(error: ApplicationError, headers=None) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.status_code, headers=headers,
                        json_dumps_params={"ensure_ascii": False})


def _checkout_visitor_id(request) -> int:
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if not header or header[0] != VISITOR_KEYWORD:
        raise NotAuthenticated("请先进入小程序（缺少访客凭证）")
    visitor_id = visitor_token_read(header[1]) if len(header) == 2 else None
    if visitor_id is None:
        raise NotAuthenticated("登录已失效，请重新进入", code="authentication_failed")
    return visitor_id


def checkout_endpoint(request) -> JsonResponse:
    """POST /api/v1/orders: place the order (idempotent) and get the `wx.requestPayment` parameters.

    Same contract and error shape as the rest of the API: 201 with the order and the payment
    parameters; 200 with the same for a retried key; `payment_error` when the order stands but
    WeChat Pay could not be asked yet (the buyer pays later from the order page).
    """
    try:
        visitor_id = _checkout_visitor_id(request)
    except NotAuthenticated as error:
        return _json_error(error, headers={"WWW-Authenticate": VISITOR_KEYWORD})
    try:
        if request.content_type != "application/json":
            raise UnsupportedMediaType()
        data = json_parse(request.body or b"null")
        if not isinstance(data, dict):
            raise ValidationFailed("请求格式错误", code="parse_error")
        key = data.get("idempotency_key")
        delivery = services.DeliveryInput.parse(data)
        lines = services.parse_basket(data["lines"]) if data.get("lines") is not None else None
        coupon_id = services.parse_coupon(data.get("coupon_id"))
        order, created = services.order_place(visitor=visitor_id, idempotency_key=key if isinstance(key, str) else "",
                                              delivery=delivery, lines=lines, coupon_id=coupon_id)
        if created:
            body = {"order": placed_order_data(order), "payment": None, "payment_error": None}
        else:  # a retry: show the order as it is now
            order = selectors.customer_order_get(customer_id=order.customer_id, order_id=order.pk)
            body = {"order": OrderDetailSerializer(order).data, "payment": None, "payment_error": None}
        if order.status == order.Status.PENDING_PAYMENT:
            try:
                body["payment"] = services.payment_prepare(
                    order_id=order.pk, notify_url=_notify_url(request), order=order if created else None)
            except ApplicationError as error:  # the order stands; the buyer can retry paying from its page
                body["payment_error"] = error.as_dict()["error"]
    except ApplicationError as error:
        return _json_error(error)
    return JsonResponse(body, status=201 if created else 200, encoder=DjangoJSONEncoder,
                        json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})


class OrderDetailApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=OrderDetailPageSerializer, summary="订单详情与时间线")
    def get(self, request, order_id):
        visitor = current_visitor(request)
        order = selectors.customer_order_get(customer_id=visitor.customer_id, order_id=order_id)
        return Response(OrderDetailPageSerializer(order).data)


class OrderPayApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=None, responses={200: PaymentOutput, **errors(409, 502)},
                   summary="重新取得支付参数（待付款订单）")
    def post(self, request, order_id):
        visitor = current_visitor(request)
        order = selectors.customer_order_get(customer_id=visitor.customer_id, order_id=order_id)
        return Response({"payment": services.payment_prepare(order_id=order.pk, notify_url=_notify_url(request))})


class OrderSyncApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=None, responses={200: OrderDetailSerializer, **errors(502)},
                   summary="支付完成后向微信支付查询结果")
    def post(self, request, order_id):
        visitor = current_visitor(request)
        order = selectors.customer_order_get(customer_id=visitor.customer_id, order_id=order_id)
        services.payment_sync(order_id=order.pk)
        return Response(OrderDetailSerializer(selectors.customer_order_get(
            customer_id=visitor.customer_id, order_id=order.pk)).data)


class OrderCancelApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=None, responses={200: OrderDetailSerializer, **errors(409)},
                   summary="取消订单：待付款直接取消；已付款在截单前取消并全额退款",
                   description="已付款订单只在截单前（送达前一天的截单时间，北京时间）且仓库未开始备货时可取消："
                               "库存释放，已付金额原路退回。之后为 409 `order_change_closed` / "
                               "`order_not_changeable`，并说明原因。已取消的订单重复提交返回订单本身，不会再次退款。")
    def post(self, request, order_id):
        visitor = current_visitor(request)
        selectors.customer_order_get(customer_id=visitor.customer_id, order_id=order_id)
        services.order_cancel_by_customer(order_id=order_id, customer_id=visitor.customer_id)
        return Response(OrderDetailSerializer(selectors.customer_order_get(
            customer_id=visitor.customer_id, order_id=order_id)).data)


class OrderLinesChangeApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=OrderLinesChangeInput, responses={200: OrderDetailSerializer, **errors(409)},
                   summary="截单前减少或删除已付款订单的商品，差额原路退款",
                   description="每个商品设为更小的数量（0 为删除），至少保留一种且不低于起送金额；配送费不退。"
                               "同样的数量重复提交不会再次退款。截单后或仓库已开始备货为 409，并说明原因。")
    def post(self, request, order_id):
        visitor = current_visitor(request)
        selectors.customer_order_get(customer_id=visitor.customer_id, order_id=order_id)
        data = request.data if isinstance(request.data, dict) else {}
        services.order_lines_reduce(order_id=order_id, customer_id=visitor.customer_id, lines=data.get("lines"))
        return Response(OrderDetailSerializer(selectors.customer_order_get(
            customer_id=visitor.customer_id, order_id=order_id)).data)


class OrderReorderApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=None, responses={200: ReorderOutput}, summary="再来一单：按今天的价格加入购物车")
    def post(self, request, order_id):
        visitor = current_visitor(request)
        cart, notes = services.cart_refill_from_order(visitor=visitor, order_id=order_id)
        view = cart_representation(lines=cart_lines(cart=cart), buyer=buyer_of(visitor.customer_id))
        return Response({"cart": view, "notes": notes})


def _fail(status: int) -> JsonResponse:
    return JsonResponse({"code": "FAIL", "message": "失败"}, status=status, json_dumps_params={"ensure_ascii": False})


class WeChatPayNotificationResource(serializers.Serializer):
    algorithm = serializers.CharField(help_text="AEAD_AES_256_GCM")
    ciphertext = serializers.CharField()
    associated_data = serializers.CharField(required=False, allow_blank=True)
    original_type = serializers.CharField()
    nonce = serializers.CharField()


class WeChatPayNotification(serializers.Serializer):
    """WeChat Pay's notification body (APIv3); the resource is decrypted with the APIv3 key."""

    id = serializers.CharField()
    create_time = serializers.CharField()
    resource_type = serializers.CharField(help_text="encrypt-resource")
    event_type = serializers.CharField(help_text="TRANSACTION.SUCCESS 等")
    summary = serializers.CharField(required=False, allow_blank=True)
    resource = WeChatPayNotificationResource()


class WeChatPayFailure(serializers.Serializer):
    """The answer WeChat Pay expects when a notification is not accepted (it retries later)."""

    code = serializers.CharField(help_text="FAIL")
    message = serializers.CharField()


_WECHATPAY_HEADERS = [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, required=True, description=description)
    for name, description in [
        ("Wechatpay-Timestamp", "通知时间戳（秒）"), ("Wechatpay-Nonce", "随机串"),
        ("Wechatpay-Signature", "微信支付平台证书/公钥对 时间戳\\n随机串\\n正文\\n 的签名"),
        ("Wechatpay-Serial", "签名所用的平台证书序列号或公钥 ID"),
    ]
]


class WeChatPayNotifySchema(APIView):
    """Documents wechatpay_notify (below), which serves the requests without DRF."""

    authentication_classes = []
    api_auth = PUBLIC

    @extend_schema(
        request=WeChatPayNotification, parameters=_WECHATPAY_HEADERS, operation_id="wechatpay_notify",
        summary="微信支付结果通知（由微信支付调用）",
        description="验签、解密后入账；已处理过的通知同样 204。签名不对为 401，内容不可信为 400，均不改变任何数据。",
        responses={
            204: OpenApiResponse(description="已受理"),
            400: OpenApiResponse(WeChatPayFailure, description="通知内容无法受理"),
            401: OpenApiResponse(WeChatPayFailure, description="签名校验失败"),
        },
    )
    def post(self, request):  # pragma: no cover - documentation only
        raise NotImplementedError


@documented_by(WeChatPayNotifySchema)
@csrf_exempt
@require_POST
def wechatpay_notify(request):
    """WeChat Pay's notification endpoint: verify, decrypt, settle; 204 when done.

    Payments (TRANSACTION.SUCCESS) and refunds (REFUND.SUCCESS/ABNORMAL/CLOSED) share it, told
    apart by event_type after the one verify path.

    Anything untrustworthy gets 4xx and changes nothing; WeChat Pay retries on its own schedule.
    """
    try:
        notification = get_backend().pay_parse_notification(headers=request.headers, body=request.body)
    except NotificationRejected as error:
        logger.warning("wechatpay notification rejected: %s", error.reason)
        return _fail(401)
    try:
        outcome = services.wechatpay_notification_receive(notification=notification)
    except PaymentRejected as error:
        logger.error("wechatpay notification refused: %s %s", error.message, error.details)
        return _fail(400)
    logger.info("wechatpay notification %s: %s", notification.id, outcome)
    return HttpResponse(status=204)
