"""Changes before the cut-off racing each other, packing and after-sales refunds, on PostgreSQL
with threads: one refund per cancel, no stock released twice, refunds never above what was paid."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from aftersales.decisions import goodwill_refund
from aftersales.models import AfterSalesDecision
from core.errors import ApplicationError
from logistics.models import Stock, StockMove
from logistics.packing import order_pack_start
from logistics.roles import WAREHOUSE_GROUP, ensure_groups
from logistics.selectors import stock_ledger_drift
from orders.models import Order, Refund
from orders.services import order_cancel_by_customer, order_lines_reduce
from tests.concurrency import run_in_threads

from .changes_support import just_before, no_dev_notifications, place_paid

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    no_dev_notifications(monkeypatch)


@pytest.fixture
def order(buyer, rules, shrimp, squid, delivery):
    """266.00 paid: 4 bags of shrimp (182.00), 4 斤 of squid (74.00), 10.00 delivery."""
    return place_paid(buyer, delivery, [(shrimp, "4"), (squid, "4")], key="change-race-0001")


def _refunds(order) -> list[Decimal]:
    return sorted(Refund.objects.filter(order=order).values_list("amount", flat=True))


def test_two_cancels_at_once_make_one_refund_and_release_the_stock_once(order, shrimp, squid):
    now = just_before(order)

    results = run_in_threads(2, lambda i: order_cancel_by_customer(order_id=order.pk, customer_id=order.customer_id,
                                                                    now=now))

    assert all(isinstance(r, Order) and r.status == Order.Status.CANCELLED for r in results), results
    assert _refunds(order) == [Decimal("266.00")]
    assert StockMove.objects.filter(reference=order.number, kind=StockMove.Kind.RELEASE).count() == 2  # two SKUs
    assert [Stock.objects.get(product=p).reserved for p in (shrimp, squid)] == [Decimal("0.00")] * 2
    assert stock_ledger_drift() == []


def test_the_same_reduction_twice_at_once_refunds_once(order, shrimp):
    now = just_before(order)

    results = run_in_threads(2, lambda i: order_lines_reduce(
        order_id=order.pk, customer_id=order.customer_id, now=now, lines=[{"product_id": shrimp.pk, "quantity": "2"}]))

    assert all(isinstance(r, Order) for r in results), results
    assert _refunds(order) == [Decimal("91.00")]
    assert Stock.objects.get(product=shrimp).reserved == Decimal("2.00")
    assert stock_ledger_drift() == []


def test_a_reduction_racing_the_start_of_packing_either_lands_first_or_is_refused(order, shrimp):
    ensure_groups()
    clerk = User.objects.create_user("packer-race")
    clerk.groups.add(Group.objects.get(name=WAREHOUSE_GROUP))
    now = just_before(order)

    def act(index):
        if index == 0:
            return order_pack_start(order_id=order.pk, user=clerk)
        return order_lines_reduce(order_id=order.pk, customer_id=order.customer_id, now=now,
                                  lines=[{"product_id": shrimp.pk, "quantity": "2"}])

    results = run_in_threads(2, act)

    assert isinstance(results[0], Order), results  # packing always starts
    order.refresh_from_db()
    assert order.status == Order.Status.PACKING
    shrimp_line = order.lines.get(product=shrimp)
    if isinstance(results[1], ApplicationError):  # packing first: the change is refused, nothing moved
        assert results[1].code == "order_not_changeable"
        assert (shrimp_line.quantity, _refunds(order)) == (Decimal("4.00"), [])
        assert Stock.objects.get(product=shrimp).reserved == Decimal("4.00")
    else:  # the change first: packing packs what is left
        assert (shrimp_line.quantity, _refunds(order)) == (Decimal("2.00"), [Decimal("91.00")])
        assert Stock.objects.get(product=shrimp).reserved == Decimal("2.00")
    assert stock_ledger_drift() == []


def test_a_cancel_racing_goodwill_refunds_never_refunds_more_than_was_paid(order):
    staff = User.objects.create_user("kefu-change-race", is_staff=True)
    now = just_before(order)

    def act(index):
        if index == 0:
            return order_cancel_by_customer(order_id=order.pk, customer_id=order.customer_id, now=now)
        return goodwill_refund(order_id=order.pk, user=staff, amount="100.00", message="补偿")

    results = run_in_threads(3, act)

    assert isinstance(results[0], Order) and results[0].status == Order.Status.CANCELLED, results
    assert all(isinstance(r, (AfterSalesDecision, ApplicationError)) for r in results[1:]), results
    refused = [r for r in results[1:] if isinstance(r, ApplicationError)]
    assert all(r.code == "refund_exceeds_paid" for r in refused), refused
    # Whatever the order: goodwill first leaves the cancel the rest; the cancel first leaves nothing.
    assert sum(_refunds(order)) == Decimal("266.00")
    assert len(_refunds(order)) == 1 + (2 - len(refused))
