from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from catalog.models import Category, Product
from customers.models import Customer, Visitor
from logistics.models import Stock, StockMove, Supplier
from reps.models import Rep


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"分类{n}")
    sort_order = factory.Sequence(lambda n: n)


class SubCategoryFactory(CategoryFactory):
    parent = factory.SubFactory(CategoryFactory)


class SupplierFactory(DjangoModelFactory):
    class Meta:
        model = Supplier

    name = factory.Sequence(lambda n: f"供应商{n}")


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Sequence(lambda n: f"冻带鱼段{n}")
    category = factory.SubFactory(SubCategoryFactory)
    spec = "1kg/袋"
    unit = Product.Unit.BAG
    price = Decimal("25.00")
    min_quantity = Decimal("1")
    step_quantity = Decimal("1")


class StockFactory(DjangoModelFactory):
    """Stock made through the ledger, so on-hand equals the sum of the ledger."""

    class Meta:
        model = Stock
        skip_postgeneration_save = True

    product = factory.SubFactory(ProductFactory)
    on_hand = Decimal("100")

    @factory.post_generation
    def ledger(obj, create, extracted, **kwargs):
        if create and obj.on_hand:
            StockMove.objects.create(stock=obj, kind=StockMove.Kind.OPENING, on_hand_delta=obj.on_hand)


def product_with_stock(on_hand="100", **kwargs) -> Product:
    product = ProductFactory(**kwargs)
    StockFactory(product=product, on_hand=Decimal(on_hand))
    return Product.objects.select_related("stock").get(pk=product.pk)


class RepFactory(DjangoModelFactory):
    class Meta:
        model = Rep

    name = factory.Sequence(lambda n: f"业务员{n}")


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"餐厅{n}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")


class VisitorFactory(DjangoModelFactory):
    class Meta:
        model = Visitor

    openid = factory.Sequence(lambda n: f"oTEST{n:023d}")
