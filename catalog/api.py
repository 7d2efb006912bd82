from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from core.errors import NotAuthenticated, ValidationFailed
from core.inputs import id_from_text
from core.schema import VISITOR, VISITOR_OPTIONAL, error_response, errors, paginated
from customers.models import Visitor

from . import selectors, services
from .models import Cart
from .pagination import page_numbers
from .pricing import buyer_of, price_book
from .serializers import CartSerializer, CategorySerializer, ProductSerializer, cart_representation


def current_visitor(request) -> Visitor:
    if not isinstance(request.auth, Visitor):
        raise NotAuthenticated("请先进入小程序（缺少访客凭证）")
    return request.auth


def optional_buyer(request):
    """The Buyer of a request whose visitor token is optional (None: anonymous or no restaurant)."""
    return buyer_of(request.auth.customer_id) if isinstance(request.auth, Visitor) else None


class CategoryListApi(APIView):
    api_auth = VISITOR_OPTIONAL

    @extend_schema(responses=CategorySerializer(many=True), summary="两级分类")
    def get(self, request):
        return Response(CategorySerializer(selectors.category_tree(), many=True).data)


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = id_from_text(raw)
    if value is None:
        raise ValidationFailed(f"参数 {name} 必须是正整数", code="invalid_parameter")
    return value


class ProductListApi(APIView):
    api_auth = VISITOR_OPTIONAL

    @extend_schema(
        parameters=[
            OpenApiParameter("category", int, description="分类 id（一级含其下全部二级）"),
            OpenApiParameter("q", str, description="名称、SKU 编码、全拼或拼音首字母，如 虾 / xr"),
            OpenApiParameter("page", int, description="页码，从 1 起；超出范围为 404"),
            OpenApiParameter("page_size", int),
        ],
        responses={200: paginated("ProductPage", ProductSerializer(many=True)),
                   404: error_response(404, "分类不存在或已停用（category_not_found），或页码超出范围")},
        operation_id="v1_catalog_products_list",
        summary="商品列表与搜索",
    )
    def get(self, request):
        category_id = _int_param(request, "category")
        query = request.query_params.get("q")
        number, size = page_numbers(page=request.query_params.get("page"),
                                    page_size=request.query_params.get("page_size"))
        page = selectors.product_page(category_id=category_id, query=query, page=number, size=size)
        products = selectors.products_by_ids(page["ids"])
        buyer = optional_buyer(request)
        context = {"buyer": buyer, "book": price_book(products, buyer)}
        return Response({"count": page["count"], **_page_links(request, number, page["has_next"]),
                         "results": ProductSerializer(products, many=True, context=context).data})


def _page_links(request, number: int, has_next: bool) -> dict:
    """next/previous as this request's own URL with another page number."""
    url = request.build_absolute_uri()
    if number <= 1:
        previous = None
    elif number == 2:
        previous = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1)
    return {"next": replace_query_param(url, "page", number + 1) if has_next else None, "previous": previous}


class ProductDetailApi(APIView):
    api_auth = VISITOR_OPTIONAL

    @extend_schema(responses=ProductSerializer, summary="商品详情")
    def get(self, request, code: str):
        return Response(ProductSerializer(selectors.product_get(code=code),
                                          context={"buyer": optional_buyer(request)}).data)


_CartSchema = CartSerializer


class CartLineInput(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    quantity = serializers.CharField(required=False, help_text="数量，如 \"2\" 或 \"1.5\"")


class CartQuantityInput(serializers.Serializer):
    quantity = serializers.CharField(help_text="数量；0 删除该商品")


def _cart_response(cart, visitor, status=200):
    return Response(cart_representation(lines=selectors.cart_lines(cart=cart), buyer=buyer_of(visitor.customer_id)),
                    status=status)


class CartApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=_CartSchema, summary="我的购物车")
    def get(self, request):
        visitor = current_visitor(request)
        return _cart_response(Cart.objects.filter(visitor=visitor).first(), visitor)

    @extend_schema(request=None, responses={200: _CartSchema}, summary="清空购物车")
    def delete(self, request):
        visitor = current_visitor(request)
        return _cart_response(services.cart_clear(visitor=visitor), visitor)


class CartLineListApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=CartLineInput, responses={200: _CartSchema, **errors(404, 409)},
                   summary="加入购物车（累加）")
    def post(self, request):
        visitor = current_visitor(request)
        data = CartLineInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_line_add(
            visitor=visitor, product_id=data.validated_data["product"], quantity=data.validated_data.get("quantity")
        )
        return _cart_response(cart, visitor)


class CartLineDetailApi(APIView):
    api_auth = VISITOR

    @extend_schema(request=CartQuantityInput, responses={200: _CartSchema, **errors(409)},
                   summary="修改数量（0 即删除）")
    def put(self, request, product_id: int):
        visitor = current_visitor(request)
        data = CartQuantityInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_line_set(visitor=visitor, product_id=product_id, quantity=data.validated_data["quantity"])
        return _cart_response(cart, visitor)

    @extend_schema(request=None, responses={200: _CartSchema}, summary="删除商品")
    def delete(self, request, product_id: int):
        visitor = current_visitor(request)
        return _cart_response(services.cart_line_remove(visitor=visitor, product_id=product_id), visitor)
