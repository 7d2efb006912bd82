"""The welcome: once per new restaurant, at its first phone authorisation, through the outbox —
also when first authorisations race."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from crm.models import WelcomeSettings
from customers.models import Customer
from customers.tokens import visitor_token_make
from notifications.models import Notification
from tests.concurrency import run_in_threads
from tests.factories import CustomerFactory, RepFactory, VisitorFactory
from wechat.backends import get_backend


def bind(visitor, phone):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    code = get_backend().issue_phone_code(openid=visitor.openid, phone=phone)
    return client.post("/api/v1/auth/phone", {"code": code, "nickname": "老王"}, format="json")


def welcomes():
    return list(Notification.objects.filter(template="welcome").values_list(
        "event_key", "recipient_id", "channel", "address", "body", "link"))


@pytest.mark.django_db
def test_a_new_restaurant_is_welcomed_once_with_its_reps_name():
    rep = RepFactory(name="李明")
    visitor = VisitorFactory(first_rep=rep)

    assert bind(visitor, "13911112222").status_code == 200
    customer = Customer.objects.get()
    assert welcomes() == [(f"welcome:{customer.pk}", str(customer.pk), "subscribe", visitor.openid,
                           "您好，我是您的专属业务员李明，有任何需要随时找我！", "/shop/")]

    # A colleague's WeChat joining the restaurant with the same number: no second welcome.
    assert bind(VisitorFactory(), "13911112222").status_code == 200
    assert len(welcomes()) == 1


@pytest.mark.django_db
def test_no_welcome_for_a_phone_that_already_belongs_to_a_restaurant_or_when_switched_off():
    CustomerFactory(phone="13933334444")
    assert bind(VisitorFactory(), "13933334444").status_code == 200
    assert welcomes() == []

    WelcomeSettings.objects.update_or_create(pk=1, defaults={"is_active": False})
    assert bind(VisitorFactory(), "13955556666").status_code == 200
    assert Customer.objects.filter(phone="13955556666").exists()
    assert welcomes() == []


@pytest.mark.django_db
def test_the_text_is_configurable_and_says_we_without_a_rep():
    WelcomeSettings.objects.update_or_create(pk=1, defaults={"text": "{customer_name}，{rep_name}欢迎您", "link": "/shop/usuals/"})
    assert bind(VisitorFactory(), "13977778888").status_code == 200
    assert [(body, link) for *_, body, link in welcomes()] == [("老王，我们欢迎您", "/shop/usuals/")]


@pytest.mark.django_db
def test_a_bad_template_is_refused_in_admin(admin_client):
    from django.urls import reverse

    WelcomeSettings.current()
    response = admin_client.post(reverse("admin:crm_welcomesettings_change", args=[1]),
                                 {"is_active": "on", "title": "欢迎", "text": "您好 {boss}", "link": "/shop/"})
    assert response.status_code == 200
    assert "只能使用" in response.content.decode()
    assert WelcomeSettings.current().text != "您好 {boss}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_racing_first_binds_of_one_new_phone_welcome_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    rep = RepFactory(name="张三")
    visitors = [VisitorFactory(first_rep=rep) for _ in range(8)]
    clients = []
    for visitor in visitors:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
        clients.append((client, get_backend().issue_phone_code(openid=visitor.openid, phone="13900001111")))

    def first_bind(index):
        client, code = clients[index]
        return client.post("/api/v1/auth/phone", {"code": code}, format="json").status_code

    assert run_in_threads(8, first_bind) == [200] * 8
    customer = Customer.objects.get()
    assert [(key, rid) for key, rid, *_ in welcomes()] == [(f"welcome:{customer.pk}", str(customer.pk))]
