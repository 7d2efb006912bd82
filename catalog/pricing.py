"""Where a price comes from. Every price a buyer sees or pays is computed here, on the server.

One function, `unit_price_for`, prices a product for a buyer: the listing, the product page,
the cart, the checkout confirmation, checkout itself and reorder all call it. The buyer is a
`Buyer`, not a Customer row: it holds exactly what a price rule may read, and every path builds
it from the customer's own columns (`buyer_of` for a loaded Customer; checkout from the same
columns in its one read, tested to agree). A rule that needs another fact about the customer
adds it here first, and each path is then made to supply it: none can silently price with a
half-filled customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import money

from .selectors import line_problem


@dataclass(frozen=True)
class Buyer:
    """What pricing may know about who is buying. An anonymous visitor is `None`, not a Buyer."""

    customer_id: int


def buyer_of(customer) -> Buyer | None:
    """The Buyer for a Customer or a customer id (None: a visitor without a restaurant yet)."""
    if customer is None:
        return None
    return Buyer(customer_id=customer if isinstance(customer, int) else customer.pk)


def unit_price_for(*, product, buyer: Buyer | None = None) -> Decimal:
    """The price per sale unit this buyer pays for this product today (`product.price` today:
    the catalogue's list price for everyone)."""
    return money(product.price)


def line_total(*, unit_price: Decimal, quantity: Decimal) -> Decimal:
    return money(unit_price * quantity)


def cart_totals(*, lines, buyer: Buyer | None = None) -> tuple[Decimal, list[str]]:
    """The orderable total of cart lines and the problems ("名称：缺货"), at this buyer's prices."""
    total = Decimal("0.00")
    problems = []
    for line in lines:
        problem = line_problem(line)
        if problem:
            problems.append(f"{line.product.name}：{problem}")
        else:
            total += line_total(unit_price=unit_price_for(product=line.product, buyer=buyer), quantity=line.quantity)
    return total, problems
