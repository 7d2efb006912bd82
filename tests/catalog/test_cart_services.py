from decimal import Decimal

import pytest

from catalog import services
from catalog.models import CartLine
from core.errors import InsufficientStock, NotFound, ProductUnavailable, ValidationFailed
from tests.factories import product_with_stock

pytestmark = pytest.mark.django_db


def cart_state(visitor):
    return {line.product_id: line.quantity for line in CartLine.objects.filter(cart__visitor=visitor)}


@pytest.fixture
def jin_product():
    # Sold by the jin, at least 2 jin, in half-jin steps.
    return product_with_stock(
        name="冻鱿鱼须", unit="斤", price="18.50", min_quantity="2", step_quantity="0.5", on_hand="30"
    )


def test_first_add_without_quantity_adds_the_minimum_then_one_step(visitor, jin_product):
    services.cart_line_add(visitor=visitor, product_id=jin_product.pk)
    assert cart_state(visitor) == {jin_product.pk: Decimal("2.00")}
    services.cart_line_add(visitor=visitor, product_id=jin_product.pk)
    assert cart_state(visitor) == {jin_product.pk: Decimal("2.50")}


def test_set_quantity_is_absolute_and_repeatable(visitor, jin_product):
    services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="3.5")
    services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="3.5")
    assert cart_state(visitor) == {jin_product.pk: Decimal("3.50")}


def test_set_zero_removes_the_line(visitor, jin_product):
    services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="3")
    services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="0")
    assert cart_state(visitor) == {}


@pytest.mark.parametrize(
    "quantity, code",
    [
        ("-1", "invalid_quantity"),
        ("1.5", "below_minimum_quantity"),
        ("2.3", "invalid_quantity_step"),
        ("2.555", "invalid_quantity"),
        ("abc", "invalid_quantity"),
        ("NaN", "invalid_quantity"),
        ("Infinity", "invalid_quantity"),
        ("", "invalid_quantity"),
        ("100000", "above_maximum_quantity"),
    ],
)
def test_bad_quantities_are_refused_and_nothing_changes(visitor, jin_product, quantity, code):
    services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="3")
    with pytest.raises(ValidationFailed) as refused:
        services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity=quantity)
    assert refused.value.code == code
    assert cart_state(visitor) == {jin_product.pk: Decimal("3.00")}


def test_step_message_names_unit_and_step(visitor, jin_product):
    with pytest.raises(ValidationFailed) as refused:
        services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="2.2")
    assert refused.value.message == "冻鱿鱼须 须按 0.5 斤 递增（起订 2 斤）"


def test_more_than_available_stock_is_refused_with_what_is_left(visitor, jin_product):
    with pytest.raises(InsufficientStock) as refused:
        services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="30.5")
    assert refused.value.message == "冻鱿鱼须 库存不足，剩余 30 斤"
    assert cart_state(visitor) == {}


def test_out_of_stock_product_cannot_be_added(visitor):
    product = product_with_stock(name="冻扇贝肉", on_hand="0")
    with pytest.raises(InsufficientStock) as refused:
        services.cart_line_add(visitor=visitor, product_id=product.pk)
    assert refused.value.message == "冻扇贝肉 缺货"
    assert cart_state(visitor) == {}


def test_inactive_product_is_refused(visitor):
    product = product_with_stock(name="冻龙虾", is_active=False)
    with pytest.raises(ProductUnavailable):
        services.cart_line_add(visitor=visitor, product_id=product.pk)
    assert cart_state(visitor) == {}


def test_product_in_disabled_category_is_refused(visitor):
    product = product_with_stock(name="冻龙虾")
    product.category.parent.is_active = False
    product.category.parent.save()
    with pytest.raises(ProductUnavailable):
        services.cart_line_add(visitor=visitor, product_id=product.pk)


def test_unknown_product_is_refused(visitor):
    with pytest.raises(NotFound):
        services.cart_line_add(visitor=visitor, product_id=987654)
    assert cart_state(visitor) == {}


def test_add_beyond_stock_keeps_the_previous_quantity(visitor, jin_product):
    services.cart_line_set(visitor=visitor, product_id=jin_product.pk, quantity="29.5")
    with pytest.raises(InsufficientStock):
        services.cart_line_add(visitor=visitor, product_id=jin_product.pk, quantity="1")
    assert cart_state(visitor) == {jin_product.pk: Decimal("29.50")}


def test_cart_line_limit(visitor, settings):
    settings.CART_MAX_LINES = 2
    products = [product_with_stock() for _ in range(3)]
    for product in products[:2]:
        services.cart_line_add(visitor=visitor, product_id=product.pk)
    with pytest.raises(ValidationFailed) as refused:
        services.cart_line_add(visitor=visitor, product_id=products[2].pk)
    assert refused.value.code == "cart_full"
    assert set(cart_state(visitor)) == {products[0].pk, products[1].pk}


def test_clear_empties_only_this_visitors_cart(visitor, jin_product):
    from tests.factories import VisitorFactory

    other = VisitorFactory()
    services.cart_line_add(visitor=visitor, product_id=jin_product.pk)
    services.cart_line_add(visitor=other, product_id=jin_product.pk)
    services.cart_clear(visitor=visitor)
    assert cart_state(visitor) == {}
    assert cart_state(other) == {jin_product.pk: Decimal("2.00")}
