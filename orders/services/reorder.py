from decimal import Decimal

from catalog.models import CartLine
from catalog.rules import fit_to_steps, product_orderable
from catalog.selectors import available_quantity
from catalog.services import cart_get_or_create
from core.errors import NotFound

from ..models import Order


def cart_refill_from_order(*, visitor, order_id) -> tuple[object, list[str]]:
    """再来一单: put a past order's products back in the cart at today's prices.

    Lines already in the cart keep the larger quantity. What cannot be bought now is skipped,
    and said so; a line larger than the stock left is cut down to what can be ordered.
    """
    customer_id = visitor.customer_id
    order = Order.objects.filter(pk=order_id, customer_id=customer_id).first() if customer_id else None
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    cart = cart_get_or_create(visitor=visitor)
    lines = list(order.lines.select_related("product__stock", "product__category__parent"))
    existing = {line.product_id: line for line in CartLine.objects.filter(cart=cart)}
    notes = []
    to_create, to_update = [], []
    for line in lines:
        product = line.product
        if not product_orderable(product):
            notes.append(f"{line.product_name} 已下架，未加入")
            continue
        wanted = max(line.quantity, existing[product.pk].quantity if product.pk in existing else Decimal("0"))
        fitted = fit_to_steps(min(wanted, available_quantity(product)), minimum=product.min_quantity,
                               step=product.step_quantity)
        if fitted <= 0:
            notes.append(f"{line.product_name} 缺货，未加入")
            continue
        if fitted < wanted:
            notes.append(f"{line.product_name} 库存不足，已加入 {fitted.normalize():f}{product.get_unit_display()}")
        if product.pk in existing:
            existing[product.pk].quantity = fitted
            to_update.append(existing[product.pk])
        else:
            to_create.append(CartLine(cart=cart, product=product, quantity=fitted))
    CartLine.objects.bulk_create(to_create)
    CartLine.objects.bulk_update(to_update, ["quantity"])
    return cart, notes
