"""Orders for the crm tests: paid (or not) orders with lines, made directly."""

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from orders.models import Order, OrderLine
from tests.factories import VisitorFactory

D = Decimal
_numbers = itertools.count(1)


def paid_order(customer, lines=(), *, at=None, days_ago=1, total=None, status=Order.Status.COMPLETED, paid=True,
               now=None):
    """An order paid at `at` (or `days_ago` before `now`) with (product, amount) lines; total = the
    lines' sum unless given."""
    n = next(_numbers)
    moment = at or (now or timezone.now()) - timedelta(days=days_ago)
    amount = sum((D(str(a)) for _, a in lines), D("0"))
    total = D(str(total)) if total is not None else (amount or D("100"))
    order = Order.objects.create(
        number=f"C{n:09d}", customer=customer,
        visitor=customer.visitors.first() or VisitorFactory(customer=customer), status=status,
        idempotency_key=f"crm-{n}", delivery_date=moment.date(), subtotal=total, total=total,
        restaurant_name=customer.name, phone=customer.phone, address="深圳", expires_at=moment,
        paid_at=moment if paid else None)
    for product, line_amount in lines:
        OrderLine.objects.create(order=order, product=product, product_code=product.code, product_name=product.name,
                                 unit=product.unit, unit_price=D(str(line_amount)), quantity=D("1"),
                                 amount=D(str(line_amount)))
    return order
