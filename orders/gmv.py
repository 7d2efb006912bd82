"""GMV: one rule, in Python and in SQL, for every figure of sales (the company dashboard, the rep
dashboard).

An order's GMV is what its customer paid for it, less what its refunds give back:
- an order never paid (no `paid_at`: awaiting payment, expired, cancelled unpaid) is worth 0;
- a paid order is worth its `total` (what WeChat Pay took) less every refund that has not failed
  — pending and processing refunds are money already on its way back, as
  `orders.services.payments.order_refundable` counts them — never below zero;
- so a paid order cancelled and refunded in full is worth 0, one refunded in part the rest;
- the order's rep plays no part: orders without a rep count like any other.

A sale is dated by its payment (`paid_at`, in Shanghai days), its refunds netted against it
whenever they happen, so a day's figure is "what the orders paid that day finally brought in".

An order *counts* as a sale (order counts, average order value, ordering customers) when its GMV
is above zero: a paid order refunded in full is no longer a sale.

`order_gmv` is the rule; `with_gmv` is the same rule in SQL, for aggregates over many orders
(tests/orders/test_gmv.py holds them equal on orders of every kind).
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Case, DecimalField, ExpressionWrapper, F, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest

from core.money import money

from .models import Order, Refund

ZERO = Decimal("0.00")
MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)


def refund_counts(status: str) -> bool:
    """Whether a refund gives money back (anything but a failed one)."""
    return status != Refund.Status.FAILED


def order_gmv(*, paid: bool, total: Decimal, refunds: Iterable[tuple[Decimal, str]] = ()) -> Decimal:
    """The GMV of one order: `total` less its (amount, status) refunds that count, if paid; else 0."""
    if not paid:
        return ZERO
    returned = sum((amount for amount, status in refunds if refund_counts(status)), Decimal("0"))
    return max(money(total - returned), ZERO)


def order_counts_as_sale(gmv: Decimal) -> bool:
    return gmv > 0


def _refunded_sql():
    refunded = (Refund.objects.filter(order=OuterRef("pk")).exclude(status=Refund.Status.FAILED)
                .order_by().values("order").annotate(s=Sum("amount")).values("s"))
    return Coalesce(Subquery(refunded, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def with_gmv(queryset: QuerySet[Order] | None = None) -> QuerySet[Order]:
    """Paid orders of `queryset` (all orders by default), each annotated `gmv` by the rule above.

    Aggregate with Sum("gmv"); count sales with Count("pk", filter=Q(gmv__gt=0)). The refunds are
    one indexed subquery per order (refund.order_id).
    """
    queryset = Order.objects.all() if queryset is None else queryset
    net = ExpressionWrapper(F("total") - _refunded_sql(), output_field=MONEY_FIELD)
    # A refund above the total is refused by refund_create; GREATEST keeps the rule's floor anyway.
    # Most orders have no refund: an uncorrelated IN (one hashed set, built once per statement)
    # spares them the per-order sum, which only refunded orders pay for.
    refunded_ids = Refund.objects.exclude(status=Refund.Status.FAILED).values("order_id")
    gmv = Case(When(pk__in=refunded_ids, then=Greatest(net, Value(ZERO), output_field=MONEY_FIELD)),
               default=F("total"), output_field=MONEY_FIELD)
    return queryset.filter(paid_at__isnull=False).annotate(gmv=gmv)
