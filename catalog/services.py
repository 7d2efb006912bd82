"""Writes to the catalogue and the cart. Prices never come from the client."""

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import InsufficientStock, NotFound, ProductUnavailable, ValidationFailed
from core.inputs import decimal_parse

from .cache import catalog_changed
from .models import Cart, CartLine, Product
from .rules import product_orderable, quantity_validate
from .selectors import available_quantity


def product_set_active(*, product_ids, active: bool) -> int:
    """Put products on or off sale in one statement; listings see it at once."""
    count = Product.objects.filter(pk__in=list(product_ids)).update(is_active=active, updated_at=timezone.now())
    catalog_changed()
    return count


# Far above any cart line (CART_MAX_QUANTITY is checked per product afterwards) and far below
# what the decimal context can quantize to cents: 1e26, 1e400 or forty 9s are refused here.
QUANTITY_LIMIT = Decimal("100000000")


def parse_quantity(raw) -> Decimal:
    """A quantity from outside: a number with at most 2 decimals, strictly positive."""
    if isinstance(raw, bool) or raw is None or raw == "":
        raise ValidationFailed("请填写数量", code="invalid_quantity")
    quantity = decimal_parse(raw, label="数量", limit=QUANTITY_LIMIT, code="invalid_quantity")
    if quantity != quantity.quantize(Decimal("0.01")):
        raise ValidationFailed("数量最多两位小数", code="invalid_quantity")
    return quantity.quantize(Decimal("0.01"))


def _orderable_product(product_id) -> Product:
    if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id <= 0:
        raise ValidationFailed("商品编号不正确", code="invalid_product")
    product = Product.objects.select_related("stock", "category__parent").filter(pk=product_id).first()
    if product is None:
        raise NotFound("商品不存在", code="product_not_found")
    if not product_orderable(product):
        raise ProductUnavailable(f"{product.name} 已下架", details={"product_id": product.pk})
    return product


def _stock_check(*, product: Product, quantity: Decimal) -> None:
    available = available_quantity(product)
    if quantity > available:
        unit = product.get_unit_display()
        message = (
            f"{product.name} 缺货" if available <= 0
            else f"{product.name} 库存不足，剩余 {available.normalize():f} {unit}"
        )
        raise InsufficientStock(message, details={"product_id": product.pk, "available": str(available)})


def cart_get_or_create(*, visitor) -> Cart:
    try:
        cart, _ = Cart.objects.get_or_create(visitor=visitor)
    except IntegrityError:  # two first requests of one visitor at once
        cart = Cart.objects.get(visitor=visitor)
    return cart


def cart_line_set(*, visitor, product_id: int, quantity) -> Cart:
    """Set a line to an exact quantity (0 removes it). Safe to repeat: a retry changes nothing."""
    quantity = parse_quantity(quantity)
    if quantity == 0:
        return cart_line_remove(visitor=visitor, product_id=product_id)
    product = _orderable_product(product_id)
    quantity_validate(product=product, quantity=quantity)
    _stock_check(product=product, quantity=quantity)
    cart = cart_get_or_create(visitor=visitor)
    with transaction.atomic():
        exists = CartLine.objects.filter(cart=cart, product=product).exists()
        if not exists and cart.lines.count() >= settings.CART_MAX_LINES:
            raise ValidationFailed(f"购物车最多 {settings.CART_MAX_LINES} 种商品", code="cart_full")
        CartLine.objects.update_or_create(cart=cart, product=product, defaults={"quantity": quantity})
        cart.save(update_fields=["updated_at"])
    return cart


def cart_line_add(*, visitor, product_id: int, quantity=None) -> Cart:
    """Add to what is already in the cart; without a quantity, one step (or the minimum)."""
    asked = None if quantity is None else parse_quantity(quantity)  # refused before the cart is made
    if asked is not None and asked <= 0:
        raise ValidationFailed("数量必须大于 0", code="invalid_quantity")
    product = _orderable_product(product_id)
    cart = cart_get_or_create(visitor=visitor)
    try:
        _line_add(cart=cart, product=product, asked=asked)
    except IntegrityError:
        # Two first adds of one product at once (a double tap, two devices): both found no line,
        # the other's insert won the unique (cart, product) key. Add to its line, as if this add
        # had come second: the quantities sum (an add without a quantity adds one step).
        if not CartLine.objects.filter(cart=cart, product=product).exists():
            raise
        _line_add(cart=cart, product=product, asked=asked)
    return cart


def _line_add(*, cart: Cart, product: Product, asked: Decimal | None) -> None:
    with transaction.atomic():
        line = CartLine.objects.select_for_update().filter(cart=cart, product=product).first()
        current = line.quantity if line else Decimal("0")
        if asked is None:
            increment = product.step_quantity if line else product.min_quantity
        else:
            increment = asked
        new_quantity = current + increment
        quantity_validate(product=product, quantity=new_quantity)
        _stock_check(product=product, quantity=new_quantity)
        if line:
            line.quantity = new_quantity
            line.save(update_fields=["quantity", "updated_at"])
        else:
            if cart.lines.count() >= settings.CART_MAX_LINES:
                raise ValidationFailed(f"购物车最多 {settings.CART_MAX_LINES} 种商品", code="cart_full")
            CartLine.objects.create(cart=cart, product=product, quantity=new_quantity)
        cart.save(update_fields=["updated_at"])


def cart_line_remove(*, visitor, product_id) -> Cart:
    if isinstance(product_id, bool) or not isinstance(product_id, int):
        raise ValidationFailed("商品编号不正确", code="invalid_product")
    cart = cart_get_or_create(visitor=visitor)
    CartLine.objects.filter(cart=cart, product_id=product_id).delete()
    return cart


def cart_clear(*, visitor) -> Cart:
    cart = cart_get_or_create(visitor=visitor)
    cart.lines.all().delete()
    return cart


def cart_lines_fill(*, visitor, wanted) -> tuple[Cart, list[dict]]:
    """Put products in the cart at (at least) the wanted quantities: 再来一单 and 我的常购.

    `wanted`: (product loaded with stock and category__parent, quantity, name shown) in order.
    Lines already in the cart keep the larger quantity. What cannot be bought now is skipped
    (reason "off_sale" or "out_of_stock"); a line larger than the stock left is cut down to what
    can be ordered ("reduced"). Returns the cart and one note per such line: product_id, name,
    reason and the message the buyer reads.
    """
    from .rules import fit_to_steps

    cart = cart_get_or_create(visitor=visitor)
    existing = {line.product_id: line for line in CartLine.objects.filter(cart=cart)}
    notes, to_create, to_update = [], [], []
    for product, quantity, name in wanted:
        if not product_orderable(product):
            notes.append({"product_id": product.pk, "name": name, "reason": "off_sale", "message": f"{name} 已下架，未加入"})
            continue
        line = existing.get(product.pk)
        asked = max(quantity, line.quantity if line else Decimal("0"))
        fitted = fit_to_steps(min(asked, available_quantity(product)), minimum=product.min_quantity,
                              step=product.step_quantity)
        if fitted <= 0:
            notes.append({"product_id": product.pk, "name": name, "reason": "out_of_stock", "message": f"{name} 缺货，未加入"})
            continue
        if fitted < asked:
            notes.append({"product_id": product.pk, "name": name, "reason": "reduced",
                          "message": f"{name} 库存不足，已加入 {fitted.normalize():f}{product.get_unit_display()}"})
        if line is not None:
            line.quantity = fitted
            to_update.append(line)
        else:
            to_create.append(CartLine(cart=cart, product=product, quantity=fitted))
    CartLine.objects.bulk_create(to_create)
    CartLine.objects.bulk_update(to_update, ["quantity"])
    return cart, notes
