from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.errors import InsufficientStock, ValidationFailed
from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from logistics.services import stock_adjust
from logistics.tasks import stock_check_ledger
from tests.factories import ProductFactory, product_with_stock

pytestmark = pytest.mark.django_db


def test_adjusting_stock_writes_one_ledger_row():
    product = ProductFactory()
    stock_adjust(product_id=product.pk, on_hand_delta=Decimal("20"), kind=StockMove.Kind.RECEIPT, reference="R1")
    stock = stock_adjust(product_id=product.pk, on_hand_delta=Decimal("-5"), note="盘亏")

    assert stock.on_hand == Decimal("15.00")
    assert list(StockMove.objects.filter(stock=stock).order_by("id").values_list("kind", "on_hand_delta")) == [
        ("receipt", Decimal("20.00")),
        ("adjustment", Decimal("-5.00")),
    ]
    assert stock_ledger_drift() == []


def test_stock_cannot_be_adjusted_below_what_is_reserved():
    product = product_with_stock(on_hand="10")
    Stock.objects.filter(product=product).update(reserved=Decimal("8"))
    StockMove.objects.create(stock=product.stock, kind=StockMove.Kind.RESERVATION, reserved_delta=Decimal("8"))

    with pytest.raises(InsufficientStock):
        stock_adjust(product_id=product.pk, on_hand_delta=Decimal("-3"))

    product.stock.refresh_from_db()
    assert product.stock.on_hand == Decimal("10.00")
    assert StockMove.objects.filter(stock=product.stock).count() == 2


def test_reservation_kinds_cannot_be_used_to_adjust_on_hand():
    product = product_with_stock(on_hand="10")
    with pytest.raises(ValidationFailed):
        stock_adjust(product_id=product.pk, on_hand_delta=Decimal("1"), kind=StockMove.Kind.RESERVATION)
    assert StockMove.objects.filter(stock=product.stock).count() == 1


def test_database_refuses_negative_stock():
    product = product_with_stock(on_hand="1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(pk=product.stock.pk).update(on_hand=Decimal("-1"))


def test_ledger_check_reports_a_stock_row_changed_behind_the_ledgers_back():
    healthy = product_with_stock(on_hand="10")
    tampered = product_with_stock(on_hand="10")
    Stock.objects.filter(product=tampered).update(on_hand=Decimal("7"))

    drift = stock_ledger_drift()

    assert [row["product_id"] for row in drift] == [tampered.pk]
    assert drift[0]["on_hand"] == Decimal("7.00") and drift[0]["ledger_on_hand"] == Decimal("10.00")
    assert stock_check_ledger.delay().get() == 1
    assert healthy.pk not in [row["product_id"] for row in drift]


def test_receiving_updates_stock_moving_average_cost_and_ledger():
    from logistics.services import stock_receive

    product = product_with_stock(on_hand="10")
    Stock.objects.filter(product=product).update(average_cost=Decimal("20.0000"))
    with transaction.atomic():
        stock = stock_receive(product_id=product.pk, quantity=Decimal("30"), unit_cost=Decimal("24.00"),
                              reference="B001")
    assert stock.on_hand == Decimal("40.00")
    assert stock.average_cost == Decimal("23.0000")  # (10×20 + 30×24) / 40
    move = StockMove.objects.get(kind="receipt")
    assert (move.on_hand_delta, move.unit_cost, move.reference) == (Decimal("30.00"), Decimal("24.0000"), "B001")
    assert stock_ledger_drift() == []


def test_shipping_ends_the_reservation_and_releases_what_was_not_packed():
    from logistics.services import stock_reserve, stock_ship

    product = product_with_stock(on_hand="50")
    with transaction.atomic():
        stock_reserve(items={product.pk: Decimal("10")}, reference="O1")
        stock_reserve(items={product.pk: Decimal("5")}, reference="O2")
        stock = stock_ship(product_id=product.pk, reserved_quantity=Decimal("10"), shipped_quantity=Decimal("9.2"),
                           reference="O1")
    assert (stock.on_hand, stock.reserved) == (Decimal("40.80"), Decimal("5.00"))
    kinds = list(StockMove.objects.filter(reference="O1").order_by("id").values_list("kind", "on_hand_delta",
                                                                                       "reserved_delta"))
    assert kinds == [("reservation", Decimal("0.00"), Decimal("10.00")), ("shipment", Decimal("-9.20"),
                     Decimal("-9.20")), ("release", Decimal("0.00"), Decimal("-0.80"))]
    assert stock_ledger_drift() == []


def test_shipping_more_than_reserved_is_allowed_for_catch_weight_within_what_is_free():
    from logistics.services import stock_reserve, stock_ship

    product = product_with_stock(on_hand="20")
    with transaction.atomic():
        stock_reserve(items={product.pk: Decimal("10")}, reference="O1")
        stock = stock_ship(product_id=product.pk, reserved_quantity=Decimal("10"), shipped_quantity=Decimal("10.4"),
                           reference="O1")
    assert (stock.on_hand, stock.reserved) == (Decimal("9.60"), Decimal("0.00"))
    assert stock_ledger_drift() == []


def test_shipping_cannot_eat_into_other_orders_reservations():
    from logistics.services import stock_reserve, stock_ship

    product = product_with_stock(on_hand="10")
    with transaction.atomic():
        stock_reserve(items={product.pk: Decimal("5")}, reference="O1")
        stock_reserve(items={product.pk: Decimal("5")}, reference="O2")
    with pytest.raises(InsufficientStock), transaction.atomic():
        stock_ship(product_id=product.pk, reserved_quantity=Decimal("5"), shipped_quantity=Decimal("6"),
                   reference="O1")
    stock = Stock.objects.get(product=product)
    assert (stock.on_hand, stock.reserved) == (Decimal("10.00"), Decimal("10.00"))
