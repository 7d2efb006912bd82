from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When

from core.errors import NotFound

from .models import Cart, CartLine, Category, Product
from .search import normalize_query

SEARCH_MIN_LENGTH = 1
SEARCH_MAX_LENGTH = 40


def category_tree() -> list[Category]:
    """Active top-level categories, each with its active children: two queries in all."""
    children = Category.objects.filter(is_active=True).order_by("sort_order", "id")
    return list(
        Category.objects.filter(parent__isnull=True, is_active=True)
        .order_by("sort_order", "id")
        .prefetch_related(Prefetch("children", queryset=children, to_attr="active_children"))
    )


def category_get(*, category_id: int) -> Category:
    category = Category.objects.filter(pk=category_id, is_active=True).select_related("parent").first()
    if category is None or (category.parent_id and not category.parent.is_active):
        raise NotFound("分类不存在或已停用", code="category_not_found")
    return category


def _shop_queryset() -> QuerySet[Product]:
    return Product.objects.active().select_related("stock", "category")


def product_list(*, category_id: int | None = None, query: str | None = None) -> QuerySet[Product]:
    """Products a buyer may order, for a category, a search, or both.

    A search matches the name, the SKU code, the full pinyin ("xiaren") or the pinyin initials
    ("xr"); an exact code comes first, then names and initials that start with the query.
    """
    products = _shop_queryset()
    if category_id is not None:
        products = products.in_category(category_get(category_id=category_id))
    if query is not None:
        needle = normalize_query(query)[:SEARCH_MAX_LENGTH]
        if len(needle) < SEARCH_MIN_LENGTH:
            return products.none()
        products = (
            products.search(needle)
            .annotate(
                rank=Case(
                    When(code__iexact=needle, then=Value(0)),
                    When(search_key__startswith=needle, then=Value(1)),
                    When(Q(name__contains=needle), then=Value(2)),
                    default=Value(3),
                    output_field=IntegerField(),
                )
            )
            .order_by("rank", "sort_order", "id")
        )
    else:
        products = products.order_by("category__sort_order", "category_id", "sort_order", "id")
    return products


def product_get(*, code: str) -> Product:
    product = _shop_queryset().filter(code=code).first()
    if product is None:
        raise NotFound("商品不存在或已下架", code="product_not_found")
    return product


def available_quantity(product: Product) -> Decimal:
    """On hand minus reserved; a product without a stock row has none."""
    try:
        stock = product.stock
    except ObjectDoesNotExist:
        return Decimal("0")
    return stock.available


def stock_label(product: Product) -> str:
    available = available_quantity(product)
    if available <= 0:
        return "缺货"
    return f"剩余 {available.normalize():f} {product.get_unit_display()}"


def cart_lines(*, cart: Cart | None) -> list[CartLine]:
    """The cart's lines with product, category and stock: one query whatever the cart's size."""
    if cart is None or cart.pk is None:
        return []
    return list(
        CartLine.objects.filter(cart=cart)
        .select_related("product__stock", "product__category__parent")
        .order_by("created_at", "id")
    )
