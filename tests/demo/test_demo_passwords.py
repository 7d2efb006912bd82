"""The demo seeder's published passwords log nobody in under ENVIRONMENT=production."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from demo import people
from demo.logistics import CLERK_PASSWORD, DRIVER_PASSWORD
from core.demo_passwords import DEMO_PASSWORDS
from core.errors import ValidationFailed
from reps.accounts import rep_login_check
from tests.factories import RepFactory

User = get_user_model()


def test_the_seeders_passwords_are_the_refused_ones():
    assert DEMO_PASSWORDS == {people.ADMIN_PASSWORD, people.REP_PASSWORD, CLERK_PASSWORD, DRIVER_PASSWORD}
    assert DEMO_PASSWORDS == {"admin12345", "rep12345", "clerk12345", "driver12345"}


@pytest.fixture
def seeded_logins(db):
    """Accounts as the seeder leaves them: one shared hash per published password."""
    users = {}
    for username, password in [("admin", "admin12345"), ("rep01", "rep12345"), ("clerk01", "clerk12345"),
                               ("delivery01", "driver12345")]:
        users[username] = User.objects.create(username=username, password=make_password(password),
                                              is_staff=username == "admin", is_superuser=username == "admin")
    RepFactory(user=users["rep01"])
    return users


def test_in_development_the_demo_logins_work(seeded_logins, client):
    assert authenticate(username="admin", password="admin12345") == seeded_logins["admin"]
    assert client.login(username="rep01", password="rep12345")


@pytest.mark.parametrize("username, password", [("admin", "admin12345"), ("rep01", "rep12345"),
                                                ("clerk01", "clerk12345"), ("delivery01", "driver12345")])
def test_in_production_no_demo_password_logs_in(seeded_logins, settings, username, password):
    settings.ENVIRONMENT = "production"
    before = User.objects.values_list("username", "password", "last_login").order_by("pk")

    assert authenticate(username=username, password=password) is None
    assert not Client().login(username=username, password=password)
    assert list(User.objects.values_list("username", "password", "last_login").order_by("pk")) == list(before)


def test_in_production_the_login_pages_refuse_them(seeded_logins, settings):
    settings.ENVIRONMENT = "production"
    client = Client()

    admin = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "admin12345"})
    rep = client.post("/rep/login/", {"username": "rep01", "password": "rep12345"})
    ops = client.post("/ops/login/", {"username": "delivery01", "password": "driver12345"})

    assert admin.status_code == rep.status_code == ops.status_code == 200  # the form again, with its error
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_in_production_another_password_still_logs_in(seeded_logins, settings):
    settings.ENVIRONMENT = "production"
    admin = seeded_logins["admin"]
    admin.set_password("a-real-admin-passphrase-2026")
    admin.save()

    assert authenticate(username="admin", password="a-real-admin-passphrase-2026") == admin


def test_in_production_nobody_can_choose_a_demo_password(settings, db):
    settings.ENVIRONMENT = "production"

    for password in sorted(DEMO_PASSWORDS):
        with pytest.raises(ValidationError) as refused:
            validate_password(password)
        assert [e.code for e in refused.value.error_list] == ["demo_password"]
    with pytest.raises(ValidationFailed) as refused:
        rep_login_check(username="newrep", password="rep12345")
    assert refused.value.message == "这是公开的演示密码，正式环境不能使用。"
    assert not User.objects.filter(username="newrep").exists()


def test_in_development_a_demo_password_may_be_chosen(db):
    validate_password("rep12345")  # the seeder's own accounts, and a demo set up by hand
