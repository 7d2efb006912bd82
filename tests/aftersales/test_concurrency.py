"""Two staff approving the same request at once, and two requests claiming the same line at once,
on PostgreSQL with threads: one refund, one open request. Refunds never exceed what was paid."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection

from aftersales.decisions import APPROVE, PARTIAL, Decision, goodwill_refund, request_decide
from aftersales.models import AfterSalesDecision, AfterSalesRequest
from aftersales.services import request_create
from core.errors import ApplicationError
from orders.models import Refund
from tests.concurrency import run_in_threads

from .conftest import make_delivered_order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")


def test_two_staff_approving_at_once_make_one_refund():
    world = make_delivered_order()
    request = request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="damaged",
                             lines=[{"line_id": world.shrimp_line.pk, "quantity": "4"}])
    staff = [User.objects.create_user(f"kefu{i}", is_staff=True) for i in range(2)]
    decisions = [Decision(kind=APPROVE, goods="written_off"), Decision(kind=PARTIAL, amount="100", goods="returned")]

    def approve(index):
        return request_decide(request_id=request.pk, user=staff[index], decision=decisions[index])

    results = run_in_threads(2, approve)

    decided = [r for r in results if isinstance(r, AfterSalesDecision)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(decided) == 1 and len(refused) == 1, results
    assert refused[0].code == "aftersales_already_decided"
    refunds = Refund.objects.filter(order=world.order).exclude(pk=world.packing_refund.pk)
    assert list(refunds.values_list("amount", flat=True)) == [decided[0].amount]
    assert AfterSalesRequest.objects.get(pk=request.pk).refunded_amount == decided[0].amount


def test_approvals_and_goodwill_racing_never_refund_more_than_was_paid():
    """Paid 702.00, 20.00 back at packing: three requests worth 682.00 in all and a 100.00 goodwill
    refund race; whatever wins, the order's refunds stay within 702.00."""
    world = make_delivered_order()
    requests = [request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="quality",
                               lines=[{"line_id": line.pk, "quantity": str(line.quantity)}])
                for line in (world.shrimp_line, world.fish_line, world.scallop_line)]
    user = User.objects.create_user("kefu-race", is_staff=True)

    def act(index):
        if index == 3:
            return goodwill_refund(order_id=world.order.pk, user=user, amount="100.00", message="补偿")
        return request_decide(request_id=requests[index].pk, user=user,
                              decision=Decision(kind=APPROVE, goods="written_off"))

    results = run_in_threads(4, act)

    assert all(isinstance(r, (AfterSalesDecision, ApplicationError)) for r in results), results
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert refused and all(r.code == "refund_exceeds_paid" for r in refused)
    total = sum(Refund.objects.filter(order=world.order).values_list("amount", flat=True))
    assert total <= Decimal("702.00")


def test_two_requests_for_one_line_at_once_leave_one_open():
    world = make_delivered_order()

    def claim(index):
        return request_create(customer_id=world.customer.pk, order_id=world.order.pk, reason="missing",
                              lines=[{"line_id": world.shrimp_line.pk, "quantity": "1"}])

    results = run_in_threads(2, claim)
    assert sum(isinstance(r, AfterSalesRequest) for r in results) == 1, results
    assert [r.code for r in results if isinstance(r, ApplicationError)] == ["line_has_open_request"]
    assert AfterSalesRequest.objects.count() == 1
