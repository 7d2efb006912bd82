"""GMV is one rule (orders.gmv): the pure `order_gmv` and its SQL form `with_gmv` agree on orders
of every kind, and the figures built on it (the company dashboard, the rep dashboard) add them up."""

from decimal import Decimal

import pytest

from orders.gmv import order_gmv, with_gmv
from orders.models import Order, Refund
from tests.dashboard.world import at, order
from tests.factories import CustomerFactory, RepFactory

pytestmark = pytest.mark.django_db
D = Decimal
OK, FAILED, PENDING, PROCESSING = (Refund.Status.SUCCEEDED, Refund.Status.FAILED, Refund.Status.PENDING,
                                   Refund.Status.PROCESSING)


def test_the_rule():
    assert order_gmv(paid=False, total=D("100")) == D("0.00")
    assert order_gmv(paid=True, total=D("100")) == D("100.00")
    assert order_gmv(paid=True, total=D("100"), refunds=[(D("30"), OK)]) == D("70.00")
    assert order_gmv(paid=True, total=D("100"), refunds=[(D("30"), OK), (D("70"), PROCESSING)]) == D("0.00")
    assert order_gmv(paid=True, total=D("100"), refunds=[(D("30"), FAILED)]) == D("100.00")
    assert order_gmv(paid=True, total=D("100"), refunds=[(D("30"), PENDING)]) == D("70.00")
    assert order_gmv(paid=True, total=D("100"), refunds=[(D("130"), OK)]) == D("0.00")  # never below zero


@pytest.fixture
def orders_of_every_kind():
    rep = RepFactory()
    a, b = CustomerFactory(rep=rep), CustomerFactory()
    return [
        order(a, total="100.00", paid_at=at(10, 12), rep=rep),                                  # paid, with a rep
        order(b, total="80.00", paid_at=at(10, 13)),                                            # paid, no rep
        order(a, total="60.00", paid_at=at(10, 14), rep=rep, refunds=[("25.50", OK)]),          # refunded in part
        order(b, total="50.00", paid_at=at(10, 15), status=Order.Status.CANCELLED,
              refunds=[("50.00", OK)]),                                                         # cancelled, refunded
        order(a, total="40.00", paid_at=at(10, 16), rep=rep, refunds=[("10.00", FAILED), ("5.00", PENDING)]),
        order(b, total="30.00"),                                                                # unpaid
        order(a, total="20.00", status=Order.Status.CANCELLED),                                 # cancelled unpaid
        order(b, total="12.34", paid_at=at(10, 23, 59, 59)),                                    # last second of the 10th
        order(a, total="7.00", paid_at=at(11, 0, 0, 0), rep=rep),                               # first second of the 11th
    ]


def _pure(o: Order) -> Decimal:
    return order_gmv(paid=o.paid_at is not None, total=o.total,
                     refunds=[(r.amount, r.status) for r in o.refunds.all()])


def test_the_sql_agrees_with_the_rule_order_by_order(orders_of_every_kind):
    by_sql = dict(with_gmv().values_list("pk", "gmv"))
    for o in orders_of_every_kind:
        assert by_sql.get(o.pk, D("0.00")) == _pure(o), o.number
    # Unpaid orders are not sales at all; the cancelled-and-refunded one is there, worth 0.
    assert set(by_sql) == {o.pk for o in orders_of_every_kind if o.paid_at}
    assert sorted(by_sql.values()) == sorted(D(v) for v in ["100.00", "80.00", "34.50", "0.00", "35.00",
                                                               "12.34", "7.00"])


def test_the_company_and_rep_figures_are_the_rules_sum(orders_of_every_kind):
    from dashboard.selectors import Period, company_dashboard
    from reps.selectors import rep_daily_stats

    figures = company_dashboard(Period(first=at(10, 0).date(), last=at(11, 0).date()))
    tenth = [o for o in orders_of_every_kind if o.paid_at and o.paid_at < at(11, 0)]
    assert figures["daily"][0]["gmv"] == sum(_pure(o) for o in tenth) == D("261.84")
    assert figures["daily"][0]["orders"] == 5  # paid and not refunded in full
    assert figures["daily"][1]["gmv"] == D("7.00")
    assert figures["totals"]["gmv"] == D("268.84")
    # The rep dashboard's GMV is the same rule over the rep's orders.
    rep_rows = rep_daily_stats(day_from=at(10, 0).date(), day_to=at(11, 0).date())
    rep_gmv = sum((D(row["gmv"] or 0) for row in rep_rows), D("0"))
    with_rep = [o for o in orders_of_every_kind if o.rep_id]
    assert rep_gmv == sum(_pure(o) for o in with_rep) == D("100.00") + D("34.50") + D("35.00") + D("7.00")
    board = {row["name"]: row for row in figures["reps"]}
    assert sum(row["gmv"] for row in figures["reps"]) == figures["totals"]["gmv"]
    assert board["（无业务员）"]["gmv"] == D("80.00") + D("12.34")


def test_first_paid_orders_are_each_customers_first_payment(orders_of_every_kind):
    """Order.objects.first_paid(): no paid order of the customer before it (unpaid ones do not count)."""
    a, b = orders_of_every_kind[0].customer, orders_of_every_kind[1].customer
    order(a, total="9.00", created=at(1, 8))  # never paid, earlier than all: not a first
    firsts = set(Order.objects.first_paid().values_list("number", flat=True))
    assert firsts == {orders_of_every_kind[0].number, orders_of_every_kind[1].number}
    assert {o.customer_id for o in Order.objects.first_paid()} == {a.pk, b.pk}
