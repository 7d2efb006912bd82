import uuid
from decimal import Decimal

import pytest

from customers.tokens import visitor_token_make
from orders.models import OrderSettings
from tests.factories import CategoryFactory, CustomerFactory, SubCategoryFactory, VisitorFactory, product_with_stock

from .harness import REDIS_SERVER, RedisServer, service_env, start_web

pytestmark = pytest.mark.faults

DELIVERY = {"restaurant_name": "湘味小馆(福田店)", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
            "district": "福田", "latitude": "22.541234", "longitude": "114.061234"}


@pytest.fixture
def log_dir(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture
def redis_server(log_dir):
    if not REDIS_SERVER:
        pytest.fail("redis-server is not installed: the fault tests start their own Redis")
    server = RedisServer(log_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(transactional_db, settings, tmp_path_factory):
    """A restaurant with a phone, a product with stock, the order rules; committed, so the
    processes see them."""
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    rules = OrderSettings.current()
    rules.min_order_amount, rules.delivery_fee, rules.free_delivery_threshold = (
        Decimal("100.00"), Decimal("10.00"), Decimal("300.00"))
    rules.save()
    shelf = SubCategoryFactory(parent=CategoryFactory(name="冻虾类"), name="虾仁")
    shrimp = product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="10", category=shelf)
    customer = CustomerFactory(name="湘味小馆", phone="13800138000")
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    return {"shrimp": shrimp, "shelf": shelf, "customer": customer, "visitor": visitor,
            "auth": {"Authorization": f"Visitor {visitor_token_make(visitor.pk)}"},
            "key_dir": settings.WECHATPAY_DEV_KEY_DIR}


@pytest.fixture
def web(world, redis_server, log_dir):
    """The web server (gunicorn) against the test database and the private Redis."""
    env = service_env(redis_url=redis_server.url(), WECHATPAY_DEV_KEY_DIR=world["key_dir"], WECHATPAY_NOTIFY_URL="")
    process, base = start_web(env, log_dir)
    yield {"process": process, "base": base, "env": env}
    process.stop()


def order_body() -> dict:
    return dict(DELIVERY, idempotency_key=uuid.uuid4().hex)
