"""A small world of orders for the dashboard and GMV tests, made directly (no checkout)."""

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from orders.models import Order, OrderLine, Refund
from tests.factories import VisitorFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = Decimal
_numbers = itertools.count(1)


def at(day, hour, minute=0, second=0, *, month=11, year=2026) -> datetime:
    """A moment in Shanghai."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def order(customer, *, total="100.00", paid_at=None, rep=None, status=None, lines=(), refunds=(), created=None):
    """An order of `total` (paid at `paid_at`, or unpaid), with (product, amount[, quantity]) lines and
    (amount, status) refunds."""
    n = next(_numbers)
    moment = paid_at or created or at(1, 9)
    status = status or (Order.Status.PAID if paid_at else Order.Status.PENDING_PAYMENT)
    total = D(total)
    result = Order.objects.create(
        number=f"DB{n:010d}", customer=customer,
        visitor=customer.visitors.first() or VisitorFactory(customer=customer), rep=rep, status=status,
        idempotency_key=f"dash-{n}", delivery_date=moment.date() + timedelta(days=1), subtotal=total, total=total,
        restaurant_name=customer.name, phone=customer.phone, address="深圳", expires_at=moment, paid_at=paid_at,
        cancelled_at=moment if status == Order.Status.CANCELLED else None)
    for line in lines:
        product, amount, *rest = line
        OrderLine.objects.create(order=result, product=product, product_code=product.code, product_name=product.name,
                                 unit=product.unit, unit_price=D(str(amount)), quantity=D(str(rest[0] if rest else 1)),
                                 amount=D(str(amount)))
    for k, (amount, refund_status) in enumerate(refunds, 1):
        Refund.objects.create(order=result, out_refund_no=f"{result.number}R{k}", amount=D(str(amount)),
                              reason="测试", status=refund_status)
    return result
