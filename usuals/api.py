"""我的常购 over the API: GET the list, POST add (all or chosen), PATCH a product's mark."""

from django.db import connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import current_visitor
from catalog.selectors import cart_lines
from catalog.serializers import CartSerializer, ProductSerializer, cart_representation
from catalog.pricing import unit_price_for
from core.schema import VISITOR, documented_by, errors
from customers.authentication import KEYWORD as VISITOR_KEYWORD
from customers.tokens import visitor_token_read

from . import reminders, services
from .list_read import usual_list_body
from .selectors import usual_list


class UsualItemSerializer(serializers.Serializer):
    product = ProductSerializer(help_text="商品（price 为该客户的价格，含价目表）")
    usual_quantity = serializers.DecimalField(max_digits=12, decimal_places=2,
                                              help_text="常购数量：窗口内购买数量的中位数，按起订量与步长取整")
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    times = serializers.IntegerField(help_text="统计窗口内购买的订单数")
    last_bought = serializers.DateTimeField(allow_null=True, help_text="最近一次购买（付款时间）")
    pinned = serializers.BooleanField()
    problem = serializers.CharField(help_text="不能下单的原因（已下架、缺货），可下单时为空")


class UsualListSerializer(serializers.Serializer):
    items = UsualItemSerializer(many=True)


class UsualAddInput(serializers.Serializer):
    product_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
                                        required=False, max_length=200,
                                        help_text="要加入的商品 id；不传则加入整个常购清单")


class UsualNoteSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField(help_text="off_sale 已下架 / out_of_stock 缺货 / reduced 库存不足已减量 / not_usual 不在常购清单")
    message = serializers.CharField()


class UsualAddOutput(serializers.Serializer):
    cart = CartSerializer()
    notes = UsualNoteSerializer(many=True, help_text="未加入或减量加入的商品及原因")


class UsualMarkInput(serializers.Serializer):
    state = serializers.ChoiceField(choices=["pinned", "hidden", "normal"], help_text="置顶 / 隐藏 / 恢复")


class UsualMarkOutput(serializers.Serializer):
    product_id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["pinned", "hidden", "normal"])


class ReminderSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="截单前是否提醒（订阅消息，链接到已按常购备好的结算页）")


class UsualListApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=UsualListSerializer, summary="我的常购：按近期已付款订单的频次与最近购买排序",
                   operation_id="v1_usuals_list")
    def get(self, request):
        visitor = current_visitor(request)
        usuals, buyer, book = usual_list(customer_id=visitor.customer_id)
        context = {"buyer": buyer, "book": book}
        # One serializer for the whole list: DRF builds a serializer's fields on each instance, which
        # per line cost more than everything else the request does.
        products = ProductSerializer([usual.product for usual in usuals], many=True, context=context).data
        return Response({"items": [{
            "product": product,
            "usual_quantity": str(usual.usual_quantity),
            "unit_price": str(unit_price_for(product=usual.product, buyer=buyer, book=book)),
            "times": usual.times,
            "last_bought": usual.last_bought.isoformat() if usual.last_bought else None,
            "pinned": usual.pinned, "problem": usual.problem,
        } for usual, product in zip(usuals, products, strict=True)]})


_usual_list_drf = UsualListApi.as_view()
_ALLOW = "GET, HEAD, OPTIONS"  # what DRF's APIView adds to this view's answers (one renderer: no Vary)


@csrf_exempt
def usual_list_view(request):
    """GET /api/v1/usuals without DRF (usuals.list_read: one prepared statement, the same bytes).
    Anything unusual (another method, no or a bad visitor token, a visitor that no longer
    exists, SQLite) goes to `UsualListApi`, so errors keep their shape and text."""
    if request.method != "GET" or connection.vendor != "postgresql":
        return _usual_list_drf(request)
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    visitor_id = visitor_token_read(parts[1]) if len(parts) == 2 and parts[0] == VISITOR_KEYWORD else None
    body = None if visitor_id is None else usual_list_body(visitor_id=visitor_id)
    if body is None:
        return _usual_list_drf(request)
    response = HttpResponse(body, content_type="application/json")
    response["Allow"] = _ALLOW
    return response


usual_list_view = documented_by(UsualListApi, falls_back=True)(usual_list_view)


class UsualAddApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=UsualAddInput, responses={200: UsualAddOutput, **errors(403)},
                   summary="把常购数量加入购物车（全部或所选；跳过下架、缺货并说明原因）")
    def post(self, request):
        visitor = current_visitor(request)
        data = UsualAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart, notes = services.usuals_add_to_cart(visitor=visitor, product_ids=data.validated_data.get("product_ids"))
        from catalog.pricing import buyer_of

        view = cart_representation(lines=cart_lines(cart=cart), buyer=buyer_of(visitor.customer_id))
        return Response({"cart": view, "notes": notes})


class UsualMarkApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=UsualMarkInput, responses={200: UsualMarkOutput, **errors(403)},
                   summary="置顶、隐藏或恢复常购商品")
    def patch(self, request, product_id: int):
        visitor = current_visitor(request)
        data = UsualMarkInput(data=request.data)
        data.is_valid(raise_exception=True)
        state = services.usual_mark_set(visitor=visitor, product_id=product_id, state=data.validated_data["state"])
        return Response({"product_id": product_id, "state": state})


class UsualReminderApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses={200: ReminderSerializer, **errors(403)}, summary="截单提醒：是否开启")
    def get(self, request):
        visitor = current_visitor(request)
        services.customer_required(visitor)
        return Response({"enabled": reminders.reminder_enabled(customer_id=visitor.customer_id)})

    @extend_schema(request=ReminderSerializer, responses={200: ReminderSerializer, **errors(403)},
                   summary="截单提醒：开启或关闭（每个餐厅一份）")
    def put(self, request):
        visitor = current_visitor(request)
        services.customer_required(visitor)
        data = ReminderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enabled = reminders.reminder_set(customer_id=visitor.customer_id, enabled=data.validated_data["enabled"])
        return Response({"enabled": enabled})
