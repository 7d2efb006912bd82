"""Add-ons: a restaurant's second order for the same delivery date is shown with the first to the
warehouse (packing list and page) and routed with it for the driver (same run, consecutive stops,
marked together on the run page)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from logistics.dispatch import runs_build
from logistics.models import DeliveryRun, Stop
from logistics.packing import same_day_orders
from logistics.roles import WAREHOUSE_GROUP, ensure_groups
from orders.models import Order, OrderLine
from tests.factories import DeliveryDriverFactory, ProductFactory, delivery_order

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 24)


@pytest.fixture(autouse=True)
def _warehouse(settings):
    settings.WAREHOUSE_LATITUDE, settings.WAREHOUSE_LONGITUDE = (22.6089, 114.1136)


def add_on(first: Order, *, status=None, number_suffix="A") -> Order:
    """The same restaurant's second order for the same day, at the same pin."""
    product = ProductFactory(price=Decimal("30.00"))
    order = Order.objects.create(
        number=f"{first.number}{number_suffix}", customer=first.customer, visitor=first.visitor,
        status=status or first.status, idempotency_key=f"addon-{first.number}{number_suffix}",
        delivery_date=first.delivery_date, subtotal=Decimal("30.00"), total=Decimal("30.00"),
        restaurant_name=first.restaurant_name, contact_name=first.contact_name, phone=first.phone,
        address=first.address, district=first.district, latitude=first.latitude, longitude=first.longitude,
        expires_at=first.expires_at, paid_at=timezone.now())
    OrderLine.objects.create(order=order, product=product, product_code=product.code, product_name=product.name,
                             unit="袋", unit_price=Decimal("30.00"), quantity=Decimal("1"), amount=Decimal("30.00"))
    return order


@pytest.fixture
def clerk_client(client):
    ensure_groups()
    user = User.objects.create_user("packer-addon")
    user.groups.add(Group.objects.get(name=WAREHOUSE_GROUP))
    client.force_login(user)
    return client


def test_same_day_orders_pairs_a_restaurants_orders_and_ignores_cancelled_and_other_days():
    first = delivery_order(delivery_date=DAY, status="paid")
    second = add_on(first)
    add_on(first, status=Order.Status.CANCELLED, number_suffix="X")
    later = delivery_order(delivery_date=DAY + timedelta(days=1), status="paid")
    alone = delivery_order(delivery_date=DAY, status="paid")

    together = same_day_orders([first, second, later, alone])

    assert together == {first.pk: [second.number], second.pk: [first.number], later.pk: [], alone.pk: []}


def test_the_packing_list_and_page_show_an_add_on_with_its_first_order(clerk_client):
    first = delivery_order(delivery_date=DAY, status="paid")
    second = add_on(first)

    listed = clerk_client.get(f"/ops/packing/?date={DAY:%Y-%m-%d}").content.decode()
    assert f"同店同日加单：{second.number}，一起装车送达" in listed
    assert f"同店同日加单：{first.number}，一起装车送达" in listed
    page = clerk_client.get(f"/ops/packing/{second.pk}/").content.decode()
    assert f"同店同日加单：{first.number}" in page


@pytest.mark.parametrize("n", [4, 16])
def test_the_packing_list_takes_a_fixed_number_of_queries(clerk_client, n, django_assert_max_num_queries):
    for _ in range(n // 2):
        add_on(delivery_order(delivery_date=DAY, status="paid"))
    with django_assert_max_num_queries(12):
        response = clerk_client.get(f"/ops/packing/?date={DAY:%Y-%m-%d}")
    assert response.content.decode().count("同店同日加单") == n


def test_dispatch_puts_an_add_on_on_the_same_run_right_after_its_first_order():
    DeliveryDriverFactory(max_stops=10)
    DeliveryDriverFactory(max_stops=10)
    others = [delivery_order(delivery_date=DAY, latitude=f"{22.55 + 0.01 * i:.6f}", longitude=f"{114.0 + 0.02 * i:.6f}")
              for i in range(4)]
    first = delivery_order(delivery_date=DAY, latitude="22.570000", longitude="114.030000")
    second = add_on(first)

    result = runs_build(delivery_date=DAY, time_limit_s=0.3)

    assert result.added == len(others) + 2 and result.dropped == {}
    stops = {stop.order_id: stop for stop in Stop.objects.all()}
    assert stops[first.pk].run_id == stops[second.pk].run_id
    assert abs(stops[first.pk].sequence - stops[second.pk].sequence) == 1


def test_the_drivers_run_page_marks_the_stops_delivered_together(client):
    driver = DeliveryDriverFactory(name="李师傅")
    first = delivery_order(delivery_date=timezone.localdate())
    second = add_on(first)
    other = delivery_order(delivery_date=timezone.localdate(), latitude="22.560000", longitude="114.080000")
    run = DeliveryRun.objects.create(driver=driver, delivery_date=timezone.localdate())
    for k, order in enumerate([first, second, other], start=1):
        Stop.objects.create(run=run, order=order, sequence=k)
    client.force_login(driver.user)

    page = client.get("/ops/delivery/").content.decode()
    assert "同一客户加单，与第 2 站一起送达" in page and "同一客户加单，与第 1 站一起送达" in page
    assert page.count("同一客户加单") == 2
    card = client.get("/ops/delivery/run.json").json()["run"]
    assert [stop["together"] for stop in card["stops"]] == [[2], [1], []]
