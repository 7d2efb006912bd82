"""The welcome: owed to each new restaurant at its first phone authorisation, sent once and only
against an acceptance of the `welcome` template (crm.welcome). The rule:

- accepted (in the tap that pays, while the checkout preview says `welcome_pending`): written to
  the outbox at once, addressed to the user who accepted, and sent;
- not accepted by the time the first paid order settles: written then, addressed to the payer, and
  sent only if the payer holds an acceptance, else recorded `no_consent` — final: an acceptance
  given later sends nothing;
- once: two first authorisations racing owe one welcome, several acceptances racing send one."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from coupons.models import Coupon, CouponTemplate
from crm.models import WelcomeDue, WelcomeSettings
from customers.models import Customer, Visitor
from customers.tokens import visitor_token_make
from notifications.models import Notification, SubscribeConsent
from orders.models import Order
from orders.services import DeliveryInput, order_place, payment_prepare, payment_sync
from tests.concurrency import run_in_threads
from tests.factories import CustomerFactory, RepFactory, VisitorFactory, product_with_stock, subscribe_consent
from tests.orders.conftest import fill_cart, rules  # noqa: F401 - the order rules' fixture
from wechat.backends import get_backend
from wechat.models import DevMessage

S = Notification.Status
TEXT = "您好，我是您的专属业务员李明，有任何需要随时找我！"


@pytest.fixture(autouse=True)
def _dev_keys(settings, tmp_path_factory):
    settings.WECHATPAY_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "wechatpay-dev-keys"
    settings.WECHATPAY_NOTIFY_URL = ""


def client_for(visitor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def bind(visitor, phone):
    code = get_backend().issue_phone_code(openid=visitor.openid, phone=phone)
    return client_for(visitor).post("/api/v1/auth/phone", {"code": code, "nickname": "老王"}, format="json")


def answer(visitor, **results):
    """What the page posts after wx.requestSubscribeMessage: {template name: accept|reject}."""
    result = {"errMsg": "requestSubscribeMessage:ok",
              **{settings.WECHAT_SUBSCRIBE_TEMPLATES[name]: value for name, value in results.items()}}
    return client_for(visitor).post("/api/v1/messages/subscriptions", {"result": result}, format="json")


def welcomes():
    return list(Notification.objects.filter(template="welcome").values_list(
        "event_key", "recipient_id", "address", "status", "body", "link"))


def welcome_messages():
    return list(DevMessage.objects.filter(template_id=settings.WECHAT_SUBSCRIBE_TEMPLATES["welcome"])
                .values_list("to", flat=True))


def pending(visitor) -> bool:
    return client_for(visitor).get("/api/v1/checkout").json()["welcome_pending"]


def pay_first_order(visitor, capture):
    product = product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="10")
    fill_cart(visitor, (product, "4"))
    delivery = DeliveryInput(restaurant_name="湘味小馆(福田店)", contact_name="王老板", address="深圳市福田区福华路 88 号",
                             latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田")
    order, _ = order_place(visitor=visitor, idempotency_key=f"welcome-{visitor.pk}", delivery=delivery)
    params = payment_prepare(order_id=order.pk, notify_url="https://shop.example.com/api/v1/pay/notify")
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    with capture(execute=True):
        assert payment_sync(order_id=order.pk) == "paid"
    return Order.objects.get(pk=order.pk)


@pytest.mark.django_db
def test_a_new_restaurant_is_owed_its_welcome_and_accepting_it_sends_it_once(django_capture_on_commit_callbacks):
    rep = RepFactory(name="李明")
    visitor = VisitorFactory(first_rep=rep)

    assert bind(visitor, "13911112222").status_code == 200
    customer = Customer.objects.get()
    # Owed, not written: the user has not been asked yet, so it would only be recorded "no consent".
    assert welcomes() == []
    assert WelcomeDue.objects.filter(customer=customer, openid=visitor.openid, released_at__isnull=True).exists()
    assert pending(visitor) is True

    # The tap that pays asks for it with the payment's templates; the acceptance sends it.
    with django_capture_on_commit_callbacks(execute=True):
        assert answer(visitor, order_paid="accept", delivery_done="accept", welcome="accept").status_code == 200
    assert welcomes() == [(f"welcome:{customer.pk}", str(customer.pk), visitor.openid, S.SENT, TEXT, "/shop/")]
    assert welcome_messages() == [visitor.openid]
    sent = DevMessage.objects.get(to=visitor.openid)
    assert sent.data["name3"] == {"value": "李明"} and sent.page == "/shop/"
    assert WelcomeDue.objects.get().released_by == WelcomeDue.Release.CONSENT
    assert pending(visitor) is False

    # Accepting again (an old page), or a colleague's phone joining the restaurant: nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, welcome="accept")
        colleague = VisitorFactory()
        assert bind(colleague, "13911112222").status_code == 200
        answer(colleague, welcome="accept")
    assert len(welcomes()) == 1 and welcome_messages() == [visitor.openid]
    assert SubscribeConsent.objects.get(openid=visitor.openid, template="welcome").available == 1  # unspent
    assert WelcomeDue.objects.count() == 1


@pytest.mark.django_db
def test_without_consent_the_first_payment_records_it_no_consent_and_a_later_acceptance_sends_nothing(
        rules, django_capture_on_commit_callbacks):  # noqa: F811
    visitor = VisitorFactory(first_rep=RepFactory(name="李明"))
    assert bind(visitor, "13911112222").status_code == 200
    # Asked, declined: still owed (the choice is recorded, nothing written).
    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, order_paid="accept", welcome="reject")
    assert welcomes() == [] and pending(visitor) is True

    order = pay_first_order(visitor, django_capture_on_commit_callbacks)

    customer = Customer.objects.get()
    assert welcomes() == [(f"welcome:{customer.pk}", str(customer.pk), visitor.openid, S.NO_CONSENT, TEXT, "/shop/")]
    assert welcome_messages() == []
    assert Notification.objects.get(event_key=f"order:{order.pk}:paid").status == S.SENT  # its own acceptance
    assert WelcomeDue.objects.get().released_by == WelcomeDue.Release.FIRST_PAYMENT
    assert pending(visitor) is False

    # Closed: an acceptance after the first payment is kept for nothing and sends no welcome.
    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, welcome="accept")
        assert payment_sync(order_id=order.pk) == "already_paid"
    assert [status for *_, status, _, _ in welcomes()] == [S.NO_CONSENT]
    assert welcome_messages() == []
    assert SubscribeConsent.objects.get(openid=visitor.openid, template="welcome").available == 1


@pytest.mark.django_db
def test_a_payer_already_holding_an_acceptance_gets_it_at_the_first_payment(
        rules, django_capture_on_commit_callbacks):  # noqa: F811
    visitor = VisitorFactory()
    subscribe_consent(visitor.openid, "welcome")  # before the phone: no restaurant to welcome yet
    assert bind(visitor, "13911112222").status_code == 200
    assert welcomes() == []

    pay_first_order(visitor, django_capture_on_commit_callbacks)

    assert [(address, status, body) for _, _, address, status, body, _ in welcomes()] == [
        (visitor.openid, S.SENT, "您好，我是您的专属业务员我们，有任何需要随时找我！")]
    assert welcome_messages() == [visitor.openid]


@pytest.mark.django_db
def test_no_welcome_for_a_phone_that_already_belongs_to_a_restaurant_or_when_switched_off(
        django_capture_on_commit_callbacks):
    CustomerFactory(phone="13933334444")
    old = VisitorFactory()
    assert bind(old, "13933334444").status_code == 200
    WelcomeSettings.objects.update_or_create(pk=1, defaults={"is_active": False})
    new = VisitorFactory()
    assert bind(new, "13955556666").status_code == 200
    assert Customer.objects.filter(phone="13955556666").exists()

    with django_capture_on_commit_callbacks(execute=True):
        answer(old, welcome="accept")
        answer(new, welcome="accept")
    assert WelcomeDue.objects.count() == 0 and welcomes() == [] and welcome_messages() == []
    assert pending(new) is False


@pytest.mark.django_db
def test_switched_off_after_it_was_owed_nothing_is_sent(django_capture_on_commit_callbacks):
    visitor = VisitorFactory()
    assert bind(visitor, "13911112222").status_code == 200
    WelcomeSettings.objects.filter(pk=1).update(is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, welcome="accept")

    assert welcomes() == [] and welcome_messages() == []
    assert SubscribeConsent.objects.get(openid=visitor.openid, template="welcome").available == 1


@pytest.mark.django_db
def test_the_text_is_configurable_and_says_we_without_a_rep(django_capture_on_commit_callbacks):
    WelcomeSettings.objects.update_or_create(pk=1, defaults={"text": "{customer_name}，{rep_name}欢迎您",
                                                              "link": "/shop/usuals/"})
    visitor = VisitorFactory()
    assert bind(visitor, "13977778888").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, welcome="accept")
    assert [(body, link) for *_, body, link in welcomes()] == [("老王，我们欢迎您", "/shop/usuals/")]


def coupon_template(**overrides):
    today = timezone.localdate()
    fields = dict(name="新客立减券", kind="amount", amount_off=Decimal("20.00"), min_spend=Decimal("100"),
                  valid_from=today, valid_to=today + timedelta(days=30))
    return CouponTemplate.objects.create(**{**fields, **overrides})


@pytest.mark.django_db
def test_the_new_customer_coupon_is_issued_at_the_first_authorisation_and_named_in_the_welcome(
        django_capture_on_commit_callbacks):
    template = coupon_template()
    WelcomeSettings.objects.update_or_create(pk=1, defaults={"coupon_template": template})
    visitor = VisitorFactory(first_rep=RepFactory(name="李明"))

    assert bind(visitor, "13911112222").status_code == 200

    customer = Customer.objects.get()
    coupon = Coupon.objects.get()
    assert (coupon.customer_id, coupon.template_id, coupon.issue.audience) == (customer.pk, template.pk, "新客欢迎券")
    assert WelcomeDue.objects.get().coupon_id == coupon.pk
    # A colleague joining the restaurant gets no second coupon.
    assert bind(VisitorFactory(), "13911112222").status_code == 200
    assert Coupon.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, welcome="accept")
    template.refresh_from_db()
    assert template.terms == "满 ¥100.00 减 ¥20.00"
    body = TEXT + f"送您一张「新客立减券」（满 ¥100.00 减 ¥20.00），{template.valid_to:%m月%d日}前下单可用。"
    assert [(status, text) for *_, status, text, _ in welcomes()] == [(S.SENT, body)]
    assert DevMessage.objects.get(to=visitor.openid).data["thing4"] == {"value": "新客立减券"}


@pytest.mark.django_db
@pytest.mark.parametrize("change", [{"is_active": False}, {"valid_from": timezone.localdate() - timedelta(days=9),
                                                           "valid_to": timezone.localdate() - timedelta(days=1)}])
def test_no_coupon_from_a_switched_off_or_expired_template_but_still_welcomed(change):
    WelcomeSettings.objects.update_or_create(pk=1, defaults={"coupon_template": coupon_template(**change)})
    visitor = VisitorFactory()

    assert bind(visitor, "13911112222").status_code == 200

    assert Coupon.objects.count() == 0
    assert WelcomeDue.objects.get().coupon_id is None


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
def test_racing_first_binds_owe_one_welcome_and_racing_acceptances_send_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    rep = RepFactory(name="张三")
    visitors = [VisitorFactory(first_rep=rep) for _ in range(8)]
    codes = [get_backend().issue_phone_code(openid=v.openid, phone="13900001111") for v in visitors]

    def first_bind(index):
        return client_for(visitors[index]).post("/api/v1/auth/phone", {"code": codes[index]}, format="json").status_code

    assert run_in_threads(8, first_bind) == [200] * 8
    customer = Customer.objects.get()
    assert Visitor.objects.filter(customer=customer).count() == 8
    assert list(WelcomeDue.objects.values_list("customer_id", flat=True)) == [customer.pk]

    # The kitchen's eight phones all accept the welcome at the same moment: one welcome, sent once
    # (the outbox runs after each commit, eagerly, in the thread that wrote it).
    assert run_in_threads(8, lambda i: answer(visitors[i], welcome="accept").status_code) == [200] * 8

    rows = Notification.objects.filter(template="welcome")
    assert [(n.event_key, n.status) for n in rows] == [(f"welcome:{customer.pk}", S.SENT)]
    assert welcome_messages() == [rows[0].address]
    assert sum(SubscribeConsent.objects.filter(template="welcome").values_list("sent_total", flat=True)) == 1


@pytest.mark.django_db
def test_an_unpaid_order_s_page_says_the_welcome_is_pending_until_it_is_released(
        rules, django_capture_on_commit_callbacks):  # noqa: F811
    """去支付 on the order's page asks for the welcome while it is owed (static/js/orders.js payAgain
    passes the order's `welcome_pending` to subscribe.onPaying), as 提交订单 does."""
    visitor = VisitorFactory(first_rep=RepFactory(name="李明"))
    assert bind(visitor, "13911112222").status_code == 200
    product = product_with_stock(name="去皮虾仁", unit="袋", price="45.50", on_hand="10")
    fill_cart(visitor, (product, "4"))
    delivery = DeliveryInput(restaurant_name="湘味小馆", contact_name="王老板", address="深圳市福田区福华路 88 号",
                             latitude=Decimal("22.541234"), longitude=Decimal("114.061234"), district="福田")
    order, _ = order_place(visitor=visitor, idempotency_key="welcome-pay-later", delivery=delivery)

    def page():
        response = client_for(visitor).get(f"/api/v1/orders/{order.pk}")
        assert response.status_code == 200
        return response.json()

    assert (page()["status"], page()["welcome_pending"]) == ("pending_payment", True)
    with django_capture_on_commit_callbacks(execute=True):
        answer(visitor, order_paid="accept", welcome="accept")  # what the 去支付 tap sends back
    assert welcome_messages() == [visitor.openid]
    assert page()["welcome_pending"] is False

    # A paid order never asks, whatever is owed.
    WelcomeDue.objects.update(released_at=None, released_by="")
    params = payment_prepare(order_id=order.pk, notify_url="https://shop.example.com/api/v1/pay/notify")
    get_backend().dev_pay_confirm(prepay_id=params["package"].removeprefix("prepay_id="))
    with django_capture_on_commit_callbacks(execute=True):
        assert payment_sync(order_id=order.pk) == "paid"
    assert page()["status"] == "paid" and page()["welcome_pending"] is False
