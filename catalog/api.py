import json
import time
from functools import lru_cache

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import page_links
from core.errors import ApplicationError, NotAuthenticated, ValidationFailed
from core.inputs import id_from_text
from core.schema import VISITOR, VISITOR_OPTIONAL, documented_by, error_response, errors, paginated
from core.sql import Prepared, column, table
from customers.authentication import KEYWORD as VISITOR_KEYWORD
from customers.models import Visitor
from customers.tokens import visitor_token_read

from . import selectors, services
from .cache import VERSION_KEY, catalog_version
from .listing import PAGE_MAX_AGE_SECONDS, page_results, shared_page_results, young
from .pagination import page_numbers
from .pricing import Buyer, buyer_of
from .serializers import CartSerializer, CategorySerializer, ProductSerializer, cart_representation


def current_visitor(request) -> Visitor:
    if not isinstance(request.auth, Visitor):
        raise NotAuthenticated("请先进入小程序（缺少访客凭证）")
    return request.auth


def optional_buyer(request):
    """The Buyer of a request whose visitor token is optional (None: anonymous or no restaurant)."""
    return buyer_of(request.auth.customer_id) if isinstance(request.auth, Visitor) else None


# What DRF's APIView adds to every answer of the catalogue's read views (one renderer: no Vary),
# set directly by their plain twins.
_ALLOW = "GET, HEAD, OPTIONS"


class CategoryListApi(APIView):
    api_auth = VISITOR_OPTIONAL

    @extend_schema(responses=CategorySerializer(many=True), summary="两级分类")
    def get(self, request):
        # HEAD, OPTIONS and a bad token only: `category_list` (below) serves the GETs.
        return HttpResponse(category_tree_text(), content_type="application/json")


_CATEGORIES_KEY = "catalog:categories"


def category_tree_text() -> str:
    """The category tree as the API writes it (CategorySerializer, JSON text), the same for every
    visitor: built once per catalogue version (every category save or delete bumps it,
    catalog.cache) and kept at most PAGE_MAX_AGE_SECONDS (a change behind the version's back, as
    for the product pages). One cache round trip, no SQL, when kept."""
    found = cache.get_many([VERSION_KEY, _CATEGORIES_KEY])
    version, kept = found.get(VERSION_KEY), found.get(_CATEGORIES_KEY)
    now = time.time()
    if kept is None or version is None or kept[0] != version or not young(kept[1], now):
        data = CategorySerializer(selectors.category_tree(), many=True).data
        kept = (version or catalog_version(), now, JSONRenderer().render(data).decode())  # DRF's own text
        cache.set(_CATEGORIES_KEY, kept, timeout=PAGE_MAX_AGE_SECONDS)
    return kept[2]


_category_list_drf = CategoryListApi.as_view()


@csrf_exempt
def category_list(request):
    """GET /api/v1/catalog/categories without DRF (the first request of every visit). The tree
    does not depend on who asks: a well-signed visitor token is not looked up (a visitor deleted
    since it was signed still gets the tree); anything else (another method, a malformed or
    forged token) goes to `CategoryListApi`, which answers in the usual error shape."""
    if request.method != "GET":
        return _category_list_drf(request)
    header = request.META.get("HTTP_AUTHORIZATION")
    if header:
        parts = header.split()
        if len(parts) != 2 or parts[0] != VISITOR_KEYWORD or visitor_token_read(parts[1]) is None:
            return _category_list_drf(request)
    response = HttpResponse(category_tree_text(), content_type="application/json")
    response["Allow"] = _ALLOW
    return response


category_list = documented_by(CategoryListApi, falls_back=True)(category_list)


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
        # Errors, HEAD and OPTIONS only: `product_list` (below) serves the GETs it can answer.
        category_id = _int_param(request, "category")
        query = request.query_params.get("q")
        number, size = page_numbers(page=request.query_params.get("page"),
                                    page_size=request.query_params.get("page_size"))
        count, has_next, results = page_results(category_id=category_id, query=query, number=number, size=size,
                                                buyer=optional_buyer(request))
        # The same text as the fast path (DRF adds its Allow and Vary headers to a plain response).
        return HttpResponse(_page_body(request, number, count, has_next, results), content_type="application/json")


_product_list_drf = ProductListApi.as_view()


def _visitor_buyer(request):
    """(ok, buyer) for the fast path: no Authorization header is an anonymous visitor; a valid
    visitor token costs one query (the customer and its price list). ok=False sends the request
    to the DRF view, which answers a bad or unknown token in the usual error shape."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return True, None
    parts = header.split()
    if len(parts) != 2 or parts[0] != VISITOR_KEYWORD:
        return False, None
    visitor_id = visitor_token_read(parts[1])
    if visitor_id is None:
        return False, None
    row = visitor_price_list(visitor_id)
    if row is None:
        return False, None
    customer_id, price_list_id = row
    return True, (None if customer_id is None else Buyer(customer_id=customer_id, price_list_id=price_list_id))


@lru_cache(maxsize=None)
def _visitor_statement() -> Prepared:
    from customers.models import Customer

    sql = (f"SELECT v.{column(Visitor, 'customer')}, c.{column(Customer, 'price_list')} FROM {table(Visitor)} v "
           f"LEFT JOIN {table(Customer)} c ON c.{column(Customer, 'id')} = v.{column(Visitor, 'customer')} "
           f"WHERE v.{column(Visitor, 'id')} = %s")
    return Prepared("catalog_visitor_price_list", sql, ("bigint",))


def visitor_price_list(visitor_id: int) -> tuple[int | None, int | None] | None:
    """(customer id, its price list id) of a visitor, None for an unknown visitor: one statement,
    prepared once per connection on PostgreSQL (every listing request with a token asks it)."""
    if connection.vendor != "postgresql":
        return Visitor.objects.filter(pk=visitor_id).values_list("customer_id", "customer__price_list_id").first()
    with connection.cursor() as cursor:
        _visitor_statement().execute(cursor, [visitor_id])
        return cursor.fetchone()


@csrf_exempt
def product_list(request):
    """GET /api/v1/catalog/products without DRF: every page comes from the shared page cache
    (catalog.listing: its freshness rules); a price-list customer's rows are re-priced for it.
    Anything unusual (another method, a bad parameter or token, a missing category or page) goes
    to `ProductListApi`, so errors keep their shape and text."""
    if request.method != "GET":
        return _product_list_drf(request)
    params = request.GET
    raw_category = params.get("category")
    category_id = None
    if raw_category not in (None, ""):
        category_id = id_from_text(raw_category)
        if category_id is None:
            return _product_list_drf(request)
    ok, buyer = _visitor_buyer(request)
    if not ok:
        return _product_list_drf(request)
    try:
        number, size = page_numbers(page=params.get("page"), page_size=params.get("page_size"))
        count, has_next, results = shared_page_results(category_id=category_id, query=params.get("q"),
                                                       number=number, size=size, buyer=buyer)
    except ApplicationError:
        return _product_list_drf(request)
    response = HttpResponse(_page_body(request, number, count, has_next, results),
                            content_type="application/json")
    response["Allow"] = _ALLOW
    return response


product_list = documented_by(ProductListApi, falls_back=True)(product_list)


def _page_body(request, number: int, count: int, has_next: bool, results: str) -> str:
    links = page_links(request, number, has_next)
    return '{"count":%d,"next":%s,"previous":%s,"results":%s}' % (
        count, _json_text(links["next"]), _json_text(links["previous"]), results)


def _json_text(value) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


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
    return Response(cart_representation(lines=selectors.cart_lines(cart=cart), buyer=buyer_of(visitor.customer)),
                    status=status)


class CartApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=_CartSchema, summary="我的购物车")
    def get(self, request):
        # Every screen's cart badge: the lines straight from the visitor (no cart row read first).
        visitor = current_visitor(request)
        return Response(cart_representation(lines=selectors.visitor_cart_lines(visitor_id=visitor.pk),
                                            buyer=buyer_of(visitor.customer)))

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
