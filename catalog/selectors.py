from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When

from core.errors import NotFound

from .cache import cached_listing
from .models import Cart, CartLine, Category, Product
from .pagination import paginate_ids
from .rules import product_orderable
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


def _active_shelf_ids() -> list[int]:
    """Categories whose products may be shown: active, under an active aisle (a few dozen rows)."""
    return list(
        Category.objects.filter(is_active=True)
        .filter(Q(parent__isnull=True) | Q(parent__is_active=True))
        .values_list("pk", flat=True)
    )


def product_list(*, category_id: int | None = None, query: str | None = None) -> QuerySet[Product]:
    """Products a buyer may order, for a category, a search, or both — ordered, without joins.

    The filters and the sort stay on the product table (category ids are resolved first), so a
    page can be picked from one scan; `products_by_ids` then loads the page with its stock.
    A search matches the name, the SKU code, the full pinyin ("xiaren") or the pinyin initials
    ("xr"); an exact code comes first, then keys and names that start with the query.
    """
    products = Product.objects.filter(is_active=True)
    ordering = ["sort_order", "id"]
    if category_id is not None:
        category = category_get(category_id=category_id)
        if category.parent_id:
            products = products.filter(category_id=category.pk)
        else:
            shelves = list(category.children.filter(is_active=True).order_by("sort_order", "id")
                           .values_list("pk", flat=True))
            products = products.filter(category_id__in=shelves or [category.pk])
            if len(shelves) > 1:
                # Shelf by shelf, in the shelves' display order, as the page groups them.
                shelf_rank = Case(*[When(category_id=pk, then=Value(i)) for i, pk in enumerate(shelves)],
                                  output_field=IntegerField())
                products = products.annotate(shelf_rank=shelf_rank)
                ordering = ["shelf_rank", "sort_order", "id"]
    else:
        products = products.filter(category_id__in=_active_shelf_ids())
    if query is not None:
        needle = normalize_query(query)[:SEARCH_MAX_LENGTH]
        if len(needle) < SEARCH_MIN_LENGTH:
            return products.none()
        products = products.search(needle).annotate(
            rank=Case(
                When(code__iexact=needle, then=Value(0)),
                When(search_key__startswith=needle, then=Value(1)),
                When(Q(name__contains=needle), then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        ordering = ["rank", *ordering]
    return products.order_by(*ordering)


def product_page(*, category_id: int | None, query: str | None, page: int, size: int) -> dict:
    """One page of a listing or search: {"ids", "count", "page", "has_next"}, cached briefly per
    catalogue version (see catalog.cache); the rows themselves are loaded fresh by the caller."""
    key = "|".join(str(part) for part in (category_id, normalize_query(query) if query is not None else None,
                                           page, size))
    return cached_listing(key, lambda: paginate_ids(product_list(category_id=category_id, query=query),
                                                    page=page, size=size))


def products_by_ids(ids: list[int]) -> list[Product]:
    """The given products with stock and category, in the given order: one query."""
    rows = Product.objects.filter(pk__in=ids).select_related("stock", "category")
    by_id = {product.pk: product for product in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


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
    return stock_label_text(available_quantity(product), product.get_unit_display())


def stock_label_text(available: Decimal, unit_label: str) -> str:
    """What a list shows for the stock left ("剩余 12 斤" or "缺货"): one rule for every path."""
    if available <= 0:
        return "缺货"
    return f"剩余 {available.normalize():f} {unit_label}"


def cart_lines(*, cart: Cart | None) -> list[CartLine]:
    """The cart's lines with product, category and stock: one query whatever the cart's size."""
    if cart is None or cart.pk is None:
        return []
    return list(
        CartLine.objects.filter(cart=cart)
        .select_related("product__stock", "product__category__parent")
        .order_by("created_at", "id")
    )


def visitor_cart_lines(*, visitor_id: int) -> list[CartLine]:
    """`cart_lines` of the visitor's cart, found through the visitor: one query, no cart read."""
    return list(
        CartLine.objects.filter(cart__visitor_id=visitor_id)
        .select_related("product__stock", "product__category__parent")
        .order_by("created_at", "id")
    )


def line_problem(line) -> str:
    """What stops a cart line from being ordered now ("" when nothing does)."""
    product = line.product
    if not product_orderable(product):
        return "已下架"
    available = available_quantity(product)
    if available <= 0:
        return "缺货"
    if line.quantity > available:
        return f"库存不足，剩余 {available.normalize():f} {product.get_unit_display()}"
    return ""
