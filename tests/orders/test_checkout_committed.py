"""Checkout outside a test transaction: BEGIN and COMMIT travel with the statements
(core.sql.Transaction), as in production where a request is not wrapped in a transaction."""

from decimal import Decimal

import pytest
from django.db import connection

from logistics.models import Stock
from logistics.selectors import stock_ledger_drift
from orders.models import Order

from .test_checkout_lines import checkout, line, nothing_changed

pytestmark = pytest.mark.django_db(transaction=True)


def _connection_is_idle() -> bool:
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    return connection.connection.get_transaction_status() == TRANSACTION_STATUS_IDLE


@pytest.fixture
def committed():
    if connection.vendor != "postgresql":
        pytest.skip("the pipelined transaction is PostgreSQL's")


def test_pipelined_checkout_commits_and_leaves_the_connection_idle(committed, buyer, rules, shrimp, squid):
    response = checkout(buyer, [line(shrimp, "3"), line(squid, "2")])
    assert response.status_code == 201
    assert _connection_is_idle()
    order = Order.objects.get()
    assert order.lines.count() == 2 and order.payment.amount_fen == 18350
    assert Stock.objects.get(product=shrimp).reserved == Decimal("3.00")
    assert stock_ledger_drift() == []


def test_pipelined_refusal_rolls_back_everything(committed, buyer, rules, shrimp, squid):
    Stock.objects.filter(product=squid).update(reserved=Decimal("49"))
    response = checkout(buyer, [line(shrimp, "3"), line(squid, "2")])
    assert response.status_code == 409
    assert _connection_is_idle()
    nothing_changed(shrimp)
    # and the visitor is free again: the next checkout goes through
    assert checkout(buyer, [line(shrimp, "3")]).status_code == 201


def test_pipelined_retry_returns_the_committed_order(committed, buyer, rules, shrimp):
    first = checkout(buyer, [line(shrimp, "3")], key="pipelined-key-1")
    again = checkout(buyer, [line(shrimp, "3")], key="pipelined-key-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert _connection_is_idle() and Order.objects.count() == 1


def test_an_order_number_clash_is_retried_with_a_new_number(committed, buyer, rules, shrimp, monkeypatch):
    import orders.services.checkout as checkout_module

    taken = checkout(buyer, [line(shrimp, "3")]).json()["order"]["number"]
    real = checkout_module._new_order_number
    draws = iter([taken])  # the next order first draws a number that is already used

    def number(moment):
        return next(draws, None) or real(moment)

    monkeypatch.setattr(checkout_module, "_new_order_number", number)
    response = checkout(buyer, [line(shrimp, "3")])
    assert response.status_code == 201, response.content
    assert response.json()["order"]["number"] != taken
    assert _connection_is_idle()
    assert Order.objects.count() == 2
    assert Stock.objects.get(product=shrimp).reserved == Decimal("6.00")  # the failed attempt reserved nothing
    assert stock_ledger_drift() == []


def test_a_session_that_lost_the_prepared_statements_still_checks_out(committed, buyer, rules, shrimp):
    assert checkout(buyer, [line(shrimp, "3")]).status_code == 201  # prepares them on this connection
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler or another component may do
    response = checkout(buyer, [line(shrimp, "3")])
    assert response.status_code == 201, response.content
    assert _connection_is_idle()
    assert Order.objects.count() == 2 and Stock.objects.get(product=shrimp).reserved == Decimal("6.00")
