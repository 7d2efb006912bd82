"""Whether a product can be ordered, and in what quantities: the catalogue's rules, pure.

Every path that decides "can this be bought" asks these functions: the cart, the cart's
problems, reorder, checkout (from the flags its one SQL read returns) and the listing's ORM
filter (`ProductQuerySet.active`, tested against `orderable` for every combination of flags).
They read no database: a product is anything with the attributes named below.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from core.errors import ValidationFailed


def orderable(*, product_active: bool, category_active: bool, parent_active: bool | None) -> bool:
    """On sale: the product is on, its category is on, and so is the aisle above it, if any
    (`parent_active` is None for a top-level category)."""
    return bool(product_active and category_active and (parent_active is None or parent_active))


def product_orderable(product) -> bool:
    """`orderable` for a Product with its category (and the category's parent) loaded."""
    category = product.category
    parent = category.parent if category.parent_id else None
    return orderable(product_active=product.is_active, category_active=category.is_active,
                     parent_active=None if parent is None else parent.is_active)


def quantity_validate(*, product, quantity: Decimal) -> None:
    """Min, step and a sane maximum, with the unit in the message ("起订量 1 斤").

    `product` needs name, min_quantity, step_quantity and get_unit_display()."""
    unit = product.get_unit_display()
    if quantity <= 0:
        raise ValidationFailed("数量必须大于 0", code="invalid_quantity")
    if quantity < product.min_quantity:
        raise ValidationFailed(
            f"{product.name} 起订量为 {product.min_quantity.normalize():f} {unit}",
            code="below_minimum_quantity",
            details={"min_quantity": str(product.min_quantity)},
        )
    if (quantity - product.min_quantity) % product.step_quantity != 0:
        raise ValidationFailed(
            f"{product.name} 须按 {product.step_quantity.normalize():f} {unit} 递增"
            f"（起订 {product.min_quantity.normalize():f} {unit}）",
            code="invalid_quantity_step",
            details={"min_quantity": str(product.min_quantity), "step_quantity": str(product.step_quantity)},
        )
    if quantity > settings.CART_MAX_QUANTITY:
        raise ValidationFailed(
            f"单个商品最多 {settings.CART_MAX_QUANTITY} {unit}，大批量请联系业务员",
            code="above_maximum_quantity",
        )


def fit_to_steps(quantity: Decimal, *, minimum: Decimal, step: Decimal) -> Decimal:
    """The largest orderable quantity (min + k·step) not above `quantity`; 0 if below the minimum."""
    if quantity < minimum:
        return Decimal("0")
    return minimum + ((quantity - minimum) // step) * step


def stock_left_label(*, available: Decimal, unit_label: str) -> str:
    """What the buyer is told about the stock left: "剩余 3 斤" or "已售罄"."""
    return f"剩余 {available.normalize():f} {unit_label}" if available > 0 else "已售罄"
