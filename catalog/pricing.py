"""Where a price comes from. Every price a buyer sees or pays is computed here, on the server."""

from decimal import Decimal

from core.money import money

from .models import Product


def unit_price_for(*, product: Product, customer=None) -> Decimal:
    """The price per sale unit this buyer pays for this product today."""
    return money(product.price)


def line_total(*, unit_price: Decimal, quantity: Decimal) -> Decimal:
    return money(unit_price * quantity)
