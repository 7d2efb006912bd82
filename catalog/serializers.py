from decimal import Decimal

from rest_framework import serializers

from .models import Category, Product
from .pricing import line_total, unit_price_for
from .selectors import available_quantity, stock_label


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
    price = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    in_stock = serializers.SerializerMethodField()
    stock_label = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id", "code", "name", "spec", "unit", "unit_label", "price", "catch_weight", "nominal_weight",
            "storage", "storage_label", "origin", "image_url", "category", "category_name",
            "min_quantity", "step_quantity", "available", "in_stock", "stock_label",
        ]

    def get_unit_label(self, product) -> str:
        return product.get_unit_display()

    def get_storage_label(self, product) -> str:
        return product.get_storage_display()

    def get_image_url(self, product) -> str:
        return product.image.url if product.image else ""

    def get_price(self, product) -> Decimal:
        return str(unit_price_for(product=product, customer=self.context.get("customer")))

    def get_available(self, product) -> str:
        return str(available_quantity(product))

    def get_in_stock(self, product) -> bool:
        return available_quantity(product) > 0

    def get_stock_label(self, product) -> str:
        return stock_label(product)


def line_problem(line) -> str:
    """What stops a cart line from being ordered now ("" when nothing does)."""
    product = line.product
    category = product.category
    if not (product.is_active and category.is_active and (category.parent is None or category.parent.is_active)):
        return "已下架"
    available = available_quantity(product)
    if available <= 0:
        return "缺货"
    if line.quantity > available:
        return f"库存不足，剩余 {available.normalize():f} {product.get_unit_display()}"
    return ""


def cart_totals(*, lines, customer=None) -> tuple[Decimal, list[str]]:
    """The orderable total and the problems ("名称：缺货"), without building the cart's JSON."""
    total = Decimal("0.00")
    problems = []
    for line in lines:
        problem = line_problem(line)
        if problem:
            problems.append(f"{line.product.name}：{problem}")
        else:
            total += line_total(unit_price=unit_price_for(product=line.product, customer=customer),
                                quantity=line.quantity)
    return total, problems


def cart_representation(*, lines, customer=None) -> dict:
    """The cart as the buyer sees it: server prices, running total and what is wrong with a line."""
    items = []
    total = Decimal("0.00")
    count = 0
    for line in lines:
        product = line.product
        price = unit_price_for(product=product, customer=customer)
        amount = line_total(unit_price=price, quantity=line.quantity)
        problem = line_problem(line)
        if not problem:
            total += amount
            count += 1
        items.append(
            {
                "product": ProductSerializer(product, context={"customer": customer}).data,
                "quantity": str(line.quantity),
                "unit_price": str(price),
                "amount": str(amount),
                "problem": problem,
            }
        )
    return {"lines": items, "total": str(total), "count": count}
