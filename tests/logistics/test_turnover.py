from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from logistics.models import InventoryValueSnapshot
from logistics.reports import inventory_turnover, inventory_value_snapshot, inventory_values
from logistics.services import stock_receive, stock_reserve, stock_ship
from tests.factories import CategoryFactory, ProductFactory, SubCategoryFactory

pytestmark = pytest.mark.django_db


def received(product, quantity, cost):
    with transaction.atomic():
        stock_receive(product_id=product.pk, quantity=Decimal(quantity), unit_cost=Decimal(cost), reference="R")


def shipped(product, quantity):
    with transaction.atomic():
        stock_reserve(items={product.pk: Decimal(quantity)}, reference="O")
        stock_ship(product_id=product.pk, reserved_quantity=Decimal(quantity), shipped_quantity=Decimal(quantity),
                   reference="O")


def test_turnover_is_cost_shipped_over_average_inventory_per_aisle_and_overall():
    shrimp_aisle, fish_aisle = CategoryFactory(name="冻虾类"), CategoryFactory(name="冻鱼类")
    shrimp = ProductFactory(category=SubCategoryFactory(parent=shrimp_aisle))
    fish = ProductFactory(category=SubCategoryFactory(parent=fish_aisle))
    day1 = date(2026, 11, 1)
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 11, 1, 10, 0))):
        received(shrimp, "100", "20.00")   # 2,000
        received(fish, "50", "10.00")      # 500
        inventory_value_snapshot(day=day1)
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 11, 2, 10, 0))):
        shipped(shrimp, "60")              # 1,200 at cost
        shipped(fish, "10")                # 100
        inventory_value_snapshot(day=day1 + timedelta(days=1))  # shrimp 800, fish 400

    rows = {row.name: row for row in inventory_turnover(start=day1, end=day1 + timedelta(days=1))}

    assert rows["冻虾类"].cost_of_goods_shipped == Decimal("1200.00")
    assert rows["冻虾类"].average_inventory == Decimal("1400.00")   # (2,000 + 800) / 2
    assert rows["冻虾类"].turnover == Decimal("0.86")
    assert rows["冻鱼类"].turnover == Decimal("0.22")               # 100 / 450
    assert rows["全部"].cost_of_goods_shipped == Decimal("1300.00")
    assert rows["全部"].average_inventory == Decimal("1850.00")
    assert rows["全部"].turnover == Decimal("0.70")
    assert rows["全部"].days_of_inventory == Decimal("2.9")


def test_snapshot_is_idempotent_and_values_use_average_cost():
    product = ProductFactory()
    received(product, "10", "10.00")
    received(product, "10", "20.00")
    assert inventory_values()[None] == Decimal("300.00")
    inventory_value_snapshot(day=date(2026, 11, 3))
    inventory_value_snapshot(day=date(2026, 11, 3))
    assert InventoryValueSnapshot.objects.filter(day=date(2026, 11, 3), category__isnull=True).count() == 1


def test_without_stock_turnover_is_not_a_number():
    rows = inventory_turnover(start=date(2026, 11, 1), end=date(2026, 11, 7))
    assert rows[-1].name == "全部" and rows[-1].turnover is None
