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


# --- Delivery (logistics: runs and proof of delivery) ---

class DeliveryUserFactory(DjangoModelFactory):
    class Meta:
        model = "auth.User"

    username = factory.Sequence(lambda n: f"delivery{n}")
    password = factory.django.Password("pw-delivery-1")


class DeliveryDriverFactory(DjangoModelFactory):
    class Meta:
        model = "logistics.Driver"

    user = factory.SubFactory(DeliveryUserFactory)
    kind = "delivery"
    name = factory.Sequence(lambda n: f"送货司机{n}")
    max_stops = 25
    max_weight_kg = Decimal("1000")


_delivery_order_numbers = iter(range(10**6, 10**7))


def delivery_order(*, delivery_date, status="packed", latitude="22.540000", longitude="114.060000",
                   weight_jin="10", phone=None, restaurant_name=None):
    """A paid, packed order (made directly, not through checkout) with one weighed line of
    `weight_jin` 斤; latitude/longitude None for an order without a map pin."""
    from django.utils import timezone

    from orders.models import Order, OrderLine

    customer = CustomerFactory(**({"phone": phone} if phone else {}))
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    product = ProductFactory(unit=Product.Unit.JIN, price=Decimal("20.00"), spec="")
    weight = Decimal(weight_jin)
    amount = (weight * Decimal("20.00")).quantize(Decimal("0.01"))
    now = timezone.now()
    order = Order.objects.create(
        number=f"D{next(_delivery_order_numbers)}", customer=customer, visitor=visitor, status=status,
        idempotency_key=f"delivery{customer.pk:08d}", delivery_date=delivery_date, subtotal=amount, total=amount,
        restaurant_name=restaurant_name or customer.name, contact_name="王老板", phone=customer.phone,
        address="深圳市福田区福华路 88 号", district="福田",
        latitude=Decimal(latitude) if latitude is not None else None,
        longitude=Decimal(longitude) if longitude is not None else None,
        expires_at=now, paid_at=now,
    )
    OrderLine.objects.create(
        order=order, product=product, product_code=product.code, product_name=product.name, unit="斤",
        unit_price=Decimal("20.00"), quantity=weight, amount=amount, packed_quantity=weight, actual_weight=weight,
        actual_amount=amount, packed_at=now,
    )
    return order


# --- Purchasing and receiving (logistics) ---

class PurchasingUserFactory(DjangoModelFactory):
    class Meta:
        model = "auth.User"

    username = factory.Sequence(lambda n: f"purchasing{n}")
    password = factory.django.Password("pw-purchasing-1")


class PurchasingDriverFactory(DjangoModelFactory):
    class Meta:
        model = "logistics.Driver"

    user = factory.SubFactory(PurchasingUserFactory)
    kind = "purchasing"
    name = factory.Sequence(lambda n: f"进货司机{n}")


_purchasing_order_numbers = iter(range(10**6, 10**7))


def purchasing_order(*, delivery_date, items, status="paid", reserve=False):
    """An order made directly (not through checkout) with lines of (product, quantity);
    `reserve=True` also reserves its stock through the ledger, as checkout does."""
    from django.db import transaction
    from django.utils import timezone

    from logistics.services import stock_reserve
    from orders.models import Order, OrderLine

    customer = CustomerFactory()
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    now = timezone.now()
    lines = [(product, Decimal(str(quantity))) for product, quantity in items]
    subtotal = sum((product.price * quantity).quantize(Decimal("0.01")) for product, quantity in lines)
    number = f"P{next(_purchasing_order_numbers)}"
    order = Order.objects.create(
        number=number, customer=customer, visitor=visitor, status=status, idempotency_key=f"purchasing{number}",
        delivery_date=delivery_date, subtotal=subtotal, total=subtotal, restaurant_name=customer.name,
        contact_name="王老板", phone=customer.phone, address="深圳市福田区福华路 88 号", expires_at=now,
        paid_at=None if status in ("pending_payment", "cancelled") else now,
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, product_code=product.code, product_name=product.name,
                  unit=product.unit, unit_price=product.price, quantity=quantity,
                  amount=(product.price * quantity).quantize(Decimal("0.01")))
        for product, quantity in lines
    )
    if reserve:
        with transaction.atomic():
            stock_reserve(items={product.pk: quantity for product, quantity in lines}, reference=number)
    return order


def subscribe_consent(openid: str, *templates: str, times: int = 1) -> None:
    """The WeChat user accepted each template `times` times (wx.requestSubscribeMessage)."""
    from notifications.consent import consent_record

    for _ in range(times):
        consent_record(openid=openid, results=dict.fromkeys(templates, "accept"))
