"""Staff logins lock out after repeated wrong passwords (django-axes), on every login page."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from core.lockouts import locked_usernames
from core.models import LoginLock
from core.net import client_ip
from logistics.roles import WAREHOUSE_GROUP
from tests.factories import DeliveryDriverFactory, RepFactory

pytestmark = pytest.mark.django_db

PASSWORD = "right-pass-123"


def admin_account():
    return User.objects.create_superuser(username="boss", password=PASSWORD), "/admin/login/", "/admin/"


def rep_account():
    user = User.objects.create_user(username="rep-zhang", password=PASSWORD)
    RepFactory(name="张三", user=user)
    return user, "/rep/login/", "/rep/"


def clerk_account():
    user = User.objects.create_user(username="clerk-li", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=WAREHOUSE_GROUP)[0])
    return user, "/ops/login/", "/ops/receiving/"


def driver_account():
    driver = DeliveryDriverFactory(user__username="driver-wang", user__password=PASSWORD)
    return driver.user, "/ops/login/", "/ops/delivery/"


ACCOUNTS = [admin_account, rep_account, clerk_account, driver_account]


def login(client, url, username, password):
    # The admin's form carries where to go next; the rep and ops logins know their landing page.
    data = {"username": username, "password": password}
    if url == "/admin/login/":
        data["next"] = "/admin/"
    return client.post(url, data)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("account", ACCOUNTS, ids=lambda f: f.__name__)
def test_40_wrong_passwords_then_the_right_one_does_not_sign_in(account, admin_client):
    user, url, landing = account()
    client = Client()
    for _ in range(40):
        assert not signed_in(client)
        login(client, url, user.username, "wrong-guess")

    response = login(client, url, user.username, PASSWORD)

    assert response.status_code == 429
    assert not signed_in(client)
    page = response.content.decode()
    assert "登录失败次数过多，账号已被锁定" in page and "30 分钟后再试" in page and "联系管理员" in page
    assert locked_usernames() == [user.username]

    # An admin clears the lock (运营后台 → 登录锁定 → 解除锁定): the right password works at once.
    attempts = LoginLock.objects.filter(username=user.username)
    cleared = admin_client.post("/admin/core/loginlock/", {
        "action": "clear_lock", "_selected_action": [str(pk) for pk in attempts.values_list("pk", flat=True)],
    }, follow=True)
    assert "已解除 1 个账号的登录锁定" in cleared.content.decode()
    assert locked_usernames() == []

    response = login(Client(), url, user.username, PASSWORD)
    assert response.status_code == 302 and response["Location"] == landing


def test_the_lock_is_the_accounts_whatever_the_page_or_address(client):
    user, _, _ = rep_account()
    for index in range(5):
        login(Client(REMOTE_ADDR=f"10.0.0.{index}"), "/rep/login/", user.username, "wrong-guess")
    response = login(Client(REMOTE_ADDR="10.9.9.9"), "/admin/login/", user.username, PASSWORD)
    assert response.status_code == 429
    assert "账号已被锁定" in response.content.decode()


def test_a_few_typos_do_not_lock_and_a_success_forgets_them(client):
    user, url, landing = rep_account()
    for _ in range(4):
        assert login(client, url, user.username, "typo").status_code == 200
    assert login(client, url, user.username, PASSWORD)["Location"] == landing
    client.logout()
    for _ in range(4):  # counted from zero again: four more typos still let the right one in
        assert login(client, url, user.username, "typo").status_code == 200
    assert login(client, url, user.username, PASSWORD)["Location"] == landing


def test_other_accounts_are_not_locked(client):
    locked, url, _ = rep_account()
    other = User.objects.create_user(username="rep-li", password=PASSWORD)
    RepFactory(name="李四", user=other)
    for _ in range(6):
        login(client, url, locked.username, "wrong-guess")
    assert login(client, url, other.username, PASSWORD)["Location"] == "/rep/"


def test_the_lock_can_be_permanent_until_an_admin_clears_it(settings, client):
    settings.AXES_COOLOFF_TIME = None
    user, url, _ = rep_account()
    for _ in range(6):
        response = login(client, url, user.username, "wrong-guess")
    assert response.status_code == 429
    page = response.content.decode()
    assert "请联系管理员" in page and "分钟后再试" not in page


def test_the_client_address_ignores_forwarded_for_unless_proxies_are_trusted(settings, rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "6.6.6.6"


def test_the_test_clients_login_still_works(client):
    """The test client's login() carries no request; settings_test lets only that through axes."""
    user, _, landing = rep_account()
    assert client.login(username=user.username, password=PASSWORD)
    assert client.get("/rep/login/")["Location"] == landing


def test_production_refuses_an_authenticate_without_a_request(rf):
    """The real backend: a login path that forgot the request fails loudly, never skips the lock."""
    from axes.backends import AxesStandaloneBackend
    from axes.exceptions import AxesBackendRequestParameterRequired

    with pytest.raises(AxesBackendRequestParameterRequired):
        AxesStandaloneBackend().authenticate(None, username="rep-zhang", password=PASSWORD)
