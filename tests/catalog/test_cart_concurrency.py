"""Simultaneous cart writes of one visitor on PostgreSQL: threads, separate connections, commits.

Two first adds of one product (a double tap, two devices) both find no line and both insert;
the unique (cart, product) key lets one through and the other must add to its line, never
answer a 500 (issue 12). The adds are held at a barrier after each has looked for its line, so
the two inserts really collide in every run, whatever the machine's load.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from catalog import services
from catalog.models import Cart, CartLine
from customers.tokens import visitor_token_make
from tests.concurrency import run_in_threads
from tests.factories import VisitorFactory, product_with_stock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def both_look_before_either_inserts(monkeypatch):
    """Each thread's first add waits, after reading the cart, until the other has read it too."""
    barrier = threading.Barrier(2)
    waited = set()
    validate = services.quantity_validate

    def held(**kwargs):
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait(timeout=60)  # a safety net against a hang, not a timing assumption
        return validate(**kwargs)

    monkeypatch.setattr(services, "quantity_validate", held)


def _visitor_client(visitor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def _lines(visitor):
    return list(CartLine.objects.filter(cart__visitor=visitor).values_list("product_id", "quantity"))


@pytest.mark.parametrize(("quantities", "merged"), [
    (("2", "3"), Decimal("5.00")),      # the quantities sum, as two adds one after the other
    ((None, None), Decimal("2.50")),    # without a quantity: the minimum, then one step
])
def test_simultaneous_first_adds_of_one_product_merge(both_look_before_either_inserts, quantities, merged):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    visitor = VisitorFactory()
    product = product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", min_quantity="2",
                                 step_quantity="0.5", on_hand="30")
    clients = [_visitor_client(visitor), _visitor_client(visitor)]

    def add(index):
        body = {"product": product.pk}
        if quantities[index] is not None:
            body["quantity"] = quantities[index]
        return clients[index].post("/api/v1/cart/lines", body, format="json").status_code

    assert run_in_threads(2, add) == [200, 200]
    assert _lines(visitor) == [(product.pk, merged)]
    assert Cart.objects.filter(visitor=visitor).count() == 1


def test_a_refused_merge_changes_nothing(both_look_before_either_inserts):
    """The merged quantity is checked like any add: past the stock, the second add is refused
    (409 in the error shape) and the first add's line stays as it was."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    visitor = VisitorFactory()
    product = product_with_stock(name="去皮虾仁", price="45.50", on_hand="5")
    clients = [_visitor_client(visitor), _visitor_client(visitor)]

    def add(index):
        response = clients[index].post("/api/v1/cart/lines", {"product": product.pk, "quantity": "3"}, format="json")
        return response.status_code, response.json()

    results = run_in_threads(2, add)

    assert sorted(status for status, _ in results) == [200, 409]
    refused = next(body for status, body in results if status == 409)
    assert refused["error"]["code"] == "insufficient_stock"
    assert _lines(visitor) == [(product.pk, Decimal("3.00"))]


def test_simultaneous_first_sets_of_one_product_keep_one_line():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    visitor = VisitorFactory()
    product = product_with_stock(name="冻带鱼段", price="25.00", on_hand="50")
    clients = [_visitor_client(visitor) for _ in range(4)]

    def put(index):
        return clients[index].put(f"/api/v1/cart/lines/{product.pk}", {"quantity": "3"}, format="json").status_code

    assert run_in_threads(4, put) == [200] * 4
    assert _lines(visitor) == [(product.pk, Decimal("3.00"))]
