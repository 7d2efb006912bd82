"""A restaurant with a WeChat user, a delivered order on a driver's run, back-office staff on the
escalation list, and helpers to file complaints through the API."""

from dataclasses import dataclass
from datetime import date

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from complaints.models import ComplaintSettings, ComplaintStaff
from customers.tokens import visitor_token_make
from logistics.models import DeliveryRun, Stop
from tests.factories import CustomerFactory, DeliveryDriverFactory, RepFactory, VisitorFactory, delivery_order

URL = "/api/v1/complaints"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def api_client(visitor) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


@dataclass
class World:
    customer: object
    visitor: object
    client: APIClient
    order: object
    driver: object
    rep: object
    managers: list
    handlers: list


def staff_user(username, **kwargs):
    return User.objects.create_user(username=username, password="staff-pw-1", is_staff=True, **kwargs)


@pytest.fixture
def world(db):
    ComplaintSettings.current()
    rep = RepFactory(name="李业务")
    order = delivery_order(delivery_date=date(2026, 12, 4), status="delivered", restaurant_name="湘味小馆")
    customer = order.customer
    customer.name, customer.rep = "湘味小馆", rep
    customer.save(update_fields=["name", "rep"])
    order.rep = rep
    order.save(update_fields=["rep"])
    driver = DeliveryDriverFactory(name="张师傅")
    run = DeliveryRun.objects.create(driver=driver, delivery_date=order.delivery_date, status="done")
    Stop.objects.create(run=run, order=order, sequence=1, status="delivered", signed_by="王")
    visitor = order.visitor
    managers = [staff_user("manager-wang"), staff_user("manager-zhao")]
    ComplaintStaff.objects.create(user=managers[0], escalations=True, takes_complaints=False, wecom_user_id="wangjl")
    ComplaintStaff.objects.create(user=managers[1], escalations=True, takes_complaints=False)
    handlers = [staff_user("kefu-a"), staff_user("kefu-b")]
    for user in handlers:
        ComplaintStaff.objects.create(user=user, takes_complaints=True)
    return World(customer=customer, visitor=visitor, client=api_client(visitor), order=order, driver=driver,
                 rep=rep, managers=managers, handlers=handlers)


def other_customer_client():
    customer = CustomerFactory(name="别家餐厅")
    visitor = VisitorFactory(customer=customer, phone=customer.phone)
    return api_client(visitor)


def file(world, *, category="driver", text="司机送货时态度很差", order=True, client=None, **extra):
    body = {"category": category, "text": text, **extra}
    if order:
        body["order_id"] = str(world.order.pk)
    return (client or world.client).post(URL, body, format="multipart")
