"""One phone, one restaurant: normalised numbers, unique in the database, races joining the winner."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.test import APIClient

from customers.models import Customer, Visitor
from customers.phones import phone_normalize
from customers.services import _customer_create_or_join
from customers.tokens import visitor_token_make
from tests.concurrency import run_in_threads
from tests.factories import CustomerFactory, VisitorFactory
from wechat.backends import get_backend

phone_migration = importlib.import_module("customers.migrations.0004_phone_normalise")


@pytest.mark.parametrize("raw, expected", [
    ("13812345678", "13812345678"),
    ("138 1234 5678", "13812345678"),
    ("138-1234-5678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("+8613812345678", "13812345678"),
    ("008613812345678", "13812345678"),
    ("8613812345678", "13812345678"),
    ("１３８１２３４５６７８", "13812345678"),
    ("(0755) 8888-1234", "075588881234"),
    ("86123", "86123"),  # not a mobile behind a country code: kept as typed
    ("", ""),
])
def test_phone_normalize(raw, expected):
    assert phone_normalize(raw) == expected


@pytest.mark.django_db
def test_a_customer_is_stored_with_its_normalised_phone():
    assert CustomerFactory(phone="+86 139-1234-5678").phone == "13912345678"


@pytest.mark.django_db
def test_admin_refuses_a_second_restaurant_for_the_same_number_typed_differently(admin_client):
    CustomerFactory(name="湘味小馆", phone="13912345678")
    response = admin_client.post("/admin/customers/customer/add/", {
        "name": "另一家", "contact_name": "", "phone": "+86 139 1234 5678", "rep": "",
        "district": "", "address": "", "latitude": "", "longitude": "",
        "visitors-TOTAL_FORMS": "0", "visitors-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert "该手机号已属于另一家客户" in response.content.decode()
    assert list(Customer.objects.values_list("name", "phone")) == [("湘味小馆", "13912345678")]


@pytest.mark.django_db
def test_a_bind_that_lost_the_race_joins_the_winners_restaurant():
    winner = CustomerFactory(name="先到的餐厅", phone="13912345678")
    # As a loser sees it: its first look found no restaurant, its insert then hits the winner's row.
    joined, created = _customer_create_or_join(phone="13912345678", nickname="后到", rep_id=None)
    assert joined == winner and not created
    assert list(Customer.objects.values_list("name", flat=True)) == ["先到的餐厅"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_12_concurrent_first_binds_of_one_new_phone_make_one_restaurant():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    visitors = [VisitorFactory() for _ in range(12)]
    requests = []
    for visitor in visitors:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
        code = get_backend().issue_phone_code(openid=visitor.openid, phone="13987654321")
        requests.append((client, code))

    def bind(index):
        client, code = requests[index]
        response = client.post("/api/v1/auth/phone", {"code": code, "nickname": f"店员{index}"}, format="json")
        return response.status_code, response.json()

    results = run_in_threads(12, bind)

    assert [status for status, _ in results] == [200] * 12, results
    customer = Customer.objects.get()
    assert customer.phone == "13987654321"
    assert {body["customer"]["id"] for _, body in results} == {customer.pk}
    assert set(Visitor.objects.values_list("customer_id", flat=True)) == {customer.pk}
    assert Visitor.objects.filter(customer=customer, phone="13987654321").count() == 12


@pytest.mark.django_db
def test_the_migration_normalises_phones():
    customer = CustomerFactory(phone="13912345678")
    Customer.objects.filter(pk=customer.pk).update(phone="+86 139-1234-5678")  # as stored before it
    phone_migration.normalise_phones(apps, None)
    customer.refresh_from_db()
    assert customer.phone == "13912345678"


@pytest.mark.django_db
def test_the_migration_stops_on_duplicates_naming_them_and_changes_nothing():
    first = CustomerFactory(name="湘味小馆", phone="13912345678")
    second = CustomerFactory(name="湘味小馆(二店)", phone="13700000000")
    Customer.objects.filter(pk=second.pk).update(phone="139 1234 5678")  # a duplicate from before the constraint
    with pytest.raises(phone_migration.DuplicatePhones) as refused:
        phone_migration.normalise_phones(apps, None)
    message = str(refused.value)
    assert "13912345678" in message and f"#{first.pk} 湘味小馆" in message and f"#{second.pk} 湘味小馆(二店)" in message
    assert "Nothing was changed" in message
    assert sorted(Customer.objects.values_list("phone", flat=True)) == ["139 1234 5678", "13912345678"]
