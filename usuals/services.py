"""我的常购's writes: add the usual quantities to the cart, pin or hide a product."""

from __future__ import annotations

from catalog.models import Product
from catalog.services import cart_lines_fill
from core.errors import NotFound
from orders.services.checkout_rules import PhoneRequired

from .models import UsualMark
from .selectors import usual_list


def customer_required(visitor) -> None:
    """我的常购's writes and settings belong to a restaurant: a visitor without one is refused."""
    if visitor.customer_id is None:
        raise PhoneRequired("请先授权手机号，绑定餐厅后查看常购清单")


def usuals_add_to_cart(*, visitor, product_ids: list[int] | None = None):
    """Add the usual quantity of every product of the list (or of the chosen ones) to the cart,
    through the cart's own rules (catalog.services.cart_lines_fill): off sale and out of stock
    are skipped with the reason, a quantity above the stock left is cut down. A chosen id that is
    not on the list is skipped too ("not_usual"). Returns the cart and the notes."""
    customer_required(visitor)
    usuals, _, _ = usual_list(customer_id=visitor.customer_id)
    chosen = None if product_ids is None else list(dict.fromkeys(product_ids))
    by_id = {usual.product.pk: usual for usual in usuals}
    wanted = [(u.product, u.usual_quantity, u.product.name) for u in usuals if chosen is None or u.product.pk in chosen]
    cart, notes = cart_lines_fill(visitor=visitor, wanted=wanted)
    for pk in chosen or ():
        if pk not in by_id:
            notes.append({"product_id": pk, "name": "", "reason": "not_usual", "message": f"商品 {pk} 不在常购清单中，未加入"})
    return cart, notes


def usual_mark_set(*, visitor, product_id: int, state: str) -> str:
    """Pin ("pinned"), hide ("hidden") or clear ("normal") a product of the customer's list."""
    customer_required(visitor)
    if not Product.objects.filter(pk=product_id).exists():
        raise NotFound("商品不存在", code="product_not_found")
    if state == "normal":
        UsualMark.objects.filter(customer_id=visitor.customer_id, product_id=product_id).delete()
    else:
        UsualMark.objects.update_or_create(customer_id=visitor.customer_id, product_id=product_id,
                                           defaults={"state": state})
    return state
