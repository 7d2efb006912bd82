from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Product
from tests.factories import CategoryFactory, ProductFactory, SubCategoryFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {"price": Decimal("0")},
        {"price": Decimal("-1")},
        {"min_quantity": Decimal("0")},
        {"step_quantity": Decimal("0")},
        {"catch_weight": True, "nominal_weight": None},
    ],
)
def test_database_refuses_impossible_products(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(**fields)
    assert Product.objects.count() == 0


def test_code_is_unique():
    ProductFactory(code="SF1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(code="SF1")


def test_categories_have_at_most_two_levels():
    shelf = SubCategoryFactory()
    third = CategoryFactory.build(parent=shelf, name="三级")
    with pytest.raises(ValidationError):
        third.full_clean()


def test_catch_weight_product_needs_nominal_weight_in_forms():
    product = ProductFactory.build(catch_weight=True, nominal_weight=None, category=SubCategoryFactory())
    with pytest.raises(ValidationError) as error:
        product.full_clean()
    assert "nominal_weight" in error.value.message_dict


def test_products_go_on_shelves_not_on_aisles_with_shelves():
    shelf = SubCategoryFactory()
    product = ProductFactory.build(category=shelf.parent)
    with pytest.raises(ValidationError) as error:
        product.full_clean()
    assert "category" in error.value.message_dict
