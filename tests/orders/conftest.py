from decimal import Decimal

import pytest

from customers.models import Customer
from orders.models import OrderSettings
from orders.services import DeliveryInput
from tests.factories import CustomerFactory, VisitorFactory, product_with_stock


@pytest.fixture(autouse=True)
def _dev_keys(settings, tmp_path_factory):
    # Generated once per test session; every process in a test shares them.
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


@pytest.fixture
def rules(db):
    row = OrderSettings.current()
    row.min_order_amount = Decimal("100.00")
    row.delivery_fee = Decimal("10.00")
    row.free_delivery_threshold = Decimal("300.00")
    row.save()
    return row


@pytest.fixture
def customer(db):
    return CustomerFactory(name="湘味小馆", phone="13800138000")


@pytest.fixture
def buyer(customer):
    return VisitorFactory(customer=customer, phone=customer.phone)


@pytest.fixture
def shrimp(db):
    return product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="10")


@pytest.fixture
def squid(db):
    return product_with_stock(name="冻鱿鱼须", unit="斤", price="18.50", min_quantity="2", step_quantity="0.5",
                              on_hand="50")


@pytest.fixture
def delivery():
    return DeliveryInput(restaurant_name="湘味小馆(福田店)", contact_name="王老板", address="深圳市福田区福华路 88 号",
                         latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田")


def fill_cart(visitor, *items):
    from catalog.services import cart_line_set

    for product, quantity in items:
        cart_line_set(visitor=visitor, product_id=product.pk, quantity=quantity)


__all__ = ["Customer", "fill_cart"]
