from catalog.services import cart_lines_fill
from core.errors import NotFound

from ..models import Order


def cart_refill_from_order(*, visitor, order_id) -> tuple[object, list[str]]:
    """再来一单: put a past order's products back in the cart at today's prices.

    Lines already in the cart keep the larger quantity. What cannot be bought now is skipped,
    and said so; a line larger than the stock left is cut down to what can be ordered
    (catalog.services.cart_lines_fill, shared with 我的常购).
    """
    customer_id = visitor.customer_id
    order = Order.objects.filter(pk=order_id, customer_id=customer_id).first() if customer_id else None
    if order is None:
        raise NotFound("订单不存在", code="order_not_found")
    lines = list(order.lines.select_related("product__stock", "product__category__parent"))
    cart, notes = cart_lines_fill(visitor=visitor, wanted=[(line.product, line.quantity, line.product_name)
                                                           for line in lines])
    return cart, [note["message"] for note in notes]
