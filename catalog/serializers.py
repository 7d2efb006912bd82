from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .listing import product_row
from .models import Category, Product
from .pricing import Buyer, line_total, price_book, unit_price_for
from .selectors import available_quantity, line_problem, stock_label


class CategoryChildSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name"]


class CategorySerializer(serializers.ModelSerializer):
    children = CategoryChildSerializer(many=True, source="active_children")

    class Meta:
        model = Category
        fields = ["id", "name", "children"]


class ProductSerializer(serializers.ModelSerializer):
    # Method fields, not source="get_…_display": DRF inspects a callable source's signature on
    # every row, which was a third of the cost of serialising a page.
    unit_label = serializers.SerializerMethodField()
    storage_label = serializers.SerializerMethodField()
    category_name = serializers.CharField(source="category.name")
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    price = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    in_stock = serializers.SerializerMethodField()
    stock_label = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id", "code", "name", "spec", "unit", "unit_label", "price", "catch_weight", "nominal_weight",
            "storage", "storage_label", "origin", "image_url", "thumbnail_url", "category", "category_name",
            "min_quantity", "step_quantity", "available", "in_stock", "stock_label",
        ]

    def get_unit_label(self, product) -> str:
        return product.get_unit_display()

    def get_storage_label(self, product) -> str:
        return product.get_storage_display()

    def get_image_url(self, product) -> str:
        return product.image.url if product.image else ""

    def get_thumbnail_url(self, product) -> str:
        """160×160 for lists; the picture itself when no thumbnail was derived."""
        return product.thumbnail.url if product.thumbnail else self.get_image_url(product)

    @extend_schema_field(serializers.DecimalField(max_digits=10, decimal_places=2))
    def get_price(self, product) -> str:
        # context: "buyer" (catalog.pricing.Buyer) and "book", its price book for these products.
        return str(unit_price_for(product=product, buyer=self.context.get("buyer"), book=self.context.get("book")))

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_available(self, product) -> str:
        return str(available_quantity(product))

    def get_in_stock(self, product) -> bool:
        return available_quantity(product) > 0

    def get_stock_label(self, product) -> str:
        return stock_label(product)


class CartLineSerializer(serializers.Serializer):
    """One line of cart_representation (below), for the schema."""

    product = ProductSerializer()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    problem = serializers.CharField(help_text="不能下单的原因（已下架、缺货、库存不足……），可下单时为空")


class CartSerializer(serializers.Serializer):
    """cart_representation (below) for the schema: server prices, the orderable total and count."""

    lines = CartLineSerializer(many=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="可下单商品的合计")
    count = serializers.IntegerField(help_text="可下单的商品数")


def cart_representation(*, lines, buyer: Buyer | None = None) -> dict:
    """The cart as the buyer sees it: server prices, running total and what is wrong with a line."""
    items = []
    total = Decimal("0.00")
    count = 0
    lines = list(lines)
    book = price_book([line.product for line in lines], buyer)
    for line in lines:
        product = line.product
        price = unit_price_for(product=product, buyer=buyer, book=book)
        amount = line_total(unit_price=price, quantity=line.quantity)
        problem = line_problem(line)
        if not problem:
            total += amount
            count += 1
        items.append(
            {
                "product": product_row(product, buyer=buyer, book=book),  # ProductSerializer's text, leaner
                "quantity": str(line.quantity),
                "unit_price": str(price),
                "amount": str(amount),
                "problem": problem,
            }
        )
    return {"lines": items, "total": str(total), "count": count}
