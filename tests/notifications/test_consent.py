"""Subscribe-message consent: WeChat sends one message per acceptance of its template, so the
outbox sends a customer's subscribe message only against an acceptance, spending it; without one
the message is recorded "no consent" (final). The mini program reports wx.requestSubscribeMessage's
answer to /api/v1/messages/subscriptions, validated."""

import pytest
from django.conf import settings
from django.db import connection, transaction

from core.errors import ExternalServiceError
from notifications.consent import consent_take
from notifications.models import Notification, SubscribeConsent
from notifications.services import notification_send, notifications_send_due, notify
from tests.concurrency import run_in_threads
from tests.factories import CustomerFactory, VisitorFactory, subscribe_consent
from tests.orders.test_api import client_for
from wechat.models import DevMessage

S = Notification.Status
OPENID = "oCONSENT00000000000000000001"
URL = "/api/v1/messages/subscriptions"


def write(key="order:1:delivered", template="delivery_done", channel="subscribe", recipient_kind="customer",
          address=OPENID):
    with transaction.atomic():
        return notify(event_key=key, recipient_kind=recipient_kind, recipient_id=7, channel=channel,
                      template=template, title="订单已送达", data={"character_string1": "26112312345678"},
                      address=address)


def available(template="delivery_done", openid=OPENID):
    row = SubscribeConsent.objects.filter(openid=openid, template=template).first()
    return row.available if row else 0


def tmpl(name):
    return settings.WECHAT_SUBSCRIBE_TEMPLATES[name]


# --- The outbox ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_message_without_acceptance_is_not_sent_and_recorded_as_no_consent():
    notification = write()

    assert notification_send(notification_id=notification.pk) == S.NO_CONSENT

    notification.refresh_from_db()
    assert notification.status == S.NO_CONSENT and notification.attempts == 1
    assert "订阅" in notification.last_error
    assert DevMessage.objects.count() == 0
    # Final: the sweep never picks it up again.
    assert notifications_send_due() == {"stuck": 0}
    notification.refresh_from_db()
    assert notification.status == S.NO_CONSENT and notification.attempts == 1


@pytest.mark.django_db
def test_one_acceptance_sends_exactly_one_message():
    subscribe_consent(OPENID, "delivery_done")
    first, second = write("order:1:delivered"), write("order:2:delivered")

    assert notification_send(notification_id=first.pk) == S.SENT
    assert notification_send(notification_id=second.pk) == S.NO_CONSENT

    assert DevMessage.objects.filter(to=OPENID).count() == 1
    assert available() == 0
    row = SubscribeConsent.objects.get(openid=OPENID, template="delivery_done")
    assert (row.accepted_total, row.sent_total) == (1, 1)


@pytest.mark.django_db
def test_an_acceptance_counts_for_its_own_template_and_user_only():
    subscribe_consent(OPENID, "order_paid")
    subscribe_consent("oSOMEBODYELSE000000000000001", "delivery_done")

    assert notification_send(notification_id=write().pk) == S.NO_CONSENT
    assert available("order_paid") == 1


@pytest.mark.django_db
def test_a_failure_before_reaching_the_user_gives_the_acceptance_back(monkeypatch):
    from wechat.backends.dev_messages import DevMessagesMixin

    subscribe_consent(OPENID, "delivery_done")
    notification = write()

    def busy(self, **kwargs):
        raise ExternalServiceError("微信服务暂时不可用", details={"reason": "connection"})

    monkeypatch.setattr(DevMessagesMixin, "send_subscribe_message", busy)
    assert notification_send(notification_id=notification.pk) == "retry"
    assert available() == 1  # given back for the retry
    monkeypatch.undo()
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=notification.created_at)
    assert notification_send(notification_id=notification.pk) == S.SENT
    assert available() == 0


@pytest.mark.django_db
def test_a_timeout_keeps_the_acceptance_spent(monkeypatch):
    from wechat.backends.dev_messages import DevMessagesMixin

    subscribe_consent(OPENID, "delivery_done")

    def slow(self, **kwargs):
        raise ExternalServiceError("超时", details={"reason": "timeout"})

    monkeypatch.setattr(DevMessagesMixin, "send_subscribe_message", slow)
    assert notification_send(notification_id=write().pk) == S.UNKNOWN
    assert available() == 0  # it may have been delivered: WeChat would have counted it


@pytest.mark.django_db
def test_wechat_saying_no_subscription_keeps_it_spent_and_skips(monkeypatch):
    from wechat.backends.dev_messages import DevMessagesMixin
    from wechat.backends.messages_base import MessageRefused

    subscribe_consent(OPENID, "delivery_done")

    def refuse(self, **kwargs):
        raise MessageRefused("用户未订阅该消息或订阅次数已用完", code="43101")

    monkeypatch.setattr(DevMessagesMixin, "send_subscribe_message", refuse)
    assert notification_send(notification_id=write().pk) == S.SKIPPED
    assert available() == 0


@pytest.mark.django_db
def test_an_unfittable_message_spends_no_acceptance():
    subscribe_consent(OPENID, "delivery_done")
    with transaction.atomic():
        bad = notify(event_key="order:9:delivered", recipient_kind="customer", recipient_id=7, channel="subscribe",
                     template="delivery_done", title="x", data={"character_string1": "中文不行"}, address=OPENID)

    assert notification_send(notification_id=bad.pk) == S.SKIPPED
    assert available() == 1


@pytest.mark.django_db
def test_inbox_and_staff_messages_need_no_consent():
    inbox = write("x:1", channel="inbox", recipient_kind="rep")
    staff = write("x:2", channel="wecom", recipient_kind="staff", address="zhangsan", template="churn_digest")

    assert inbox.status == S.SENT
    assert notification_send(notification_id=staff.pk) == S.SENT
    assert SubscribeConsent.objects.count() == 0


@pytest.fixture
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent UPDATEs need PostgreSQL")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_messages_racing_for_one_acceptance_send_one(_postgres_only, monkeypatch):
    import notifications.services

    monkeypatch.setattr(notifications.services, "_dispatch", lambda notification_id: None)  # sent below, at once
    subscribe_consent(OPENID, "delivery_done")
    rows = [write(f"order:{i}:delivered") for i in range(2)]

    outcomes = run_in_threads(2, lambda index: notification_send(notification_id=rows[index].pk))

    assert sorted(outcomes) == sorted([S.SENT, S.NO_CONSENT]), outcomes
    assert DevMessage.objects.filter(to=OPENID).count() == 1
    assert available() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_takers_never_spend_more_than_was_accepted(_postgres_only):
    subscribe_consent(OPENID, "refund_done", times=3)

    taken = run_in_threads(8, lambda index: consent_take(openid=OPENID, template="refund_done"))

    assert taken.count(True) == 3 and taken.count(False) == 5, taken
    assert available("refund_done") == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_acceptances_recorded_at_once_all_count(_postgres_only):
    from notifications.consent import consent_record

    run_in_threads(4, lambda index: consent_record(openid=OPENID, results={"order_paid": "accept"}))

    assert available("order_paid") == 4


# --- The consent endpoint -----------------------------------------------------------------------

@pytest.fixture
def visitor(db):
    return VisitorFactory(customer=CustomerFactory(), openid=OPENID)


@pytest.mark.django_db
def test_the_endpoint_records_wechats_answer(visitor):
    result = {"errMsg": "requestSubscribeMessage:ok", tmpl("order_paid"): "accept",
              tmpl("delivery_done"): "reject", tmpl("weight_refund"): "ban"}

    response = client_for(visitor).post(URL, {"result": result}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == {"available": {"order_paid": 1, "delivery_done": 0, "weight_refund": 0}}
    rows = {row.template: row for row in SubscribeConsent.objects.filter(openid=OPENID)}
    assert (rows["order_paid"].available, rows["order_paid"].last_result) == (1, "accept")
    assert (rows["delivery_done"].available, rows["delivery_done"].last_result) == (0, "reject")
    assert rows["weight_refund"].last_result == "ban"
    # Each accept grants one more message.
    again = client_for(visitor).post(URL, {"result": {"errMsg": "requestSubscribeMessage:ok",
                                                      tmpl("order_paid"): "accept"}}, format="json")
    assert again.json() == {"available": {"order_paid": 2}}


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["unknown template", "bad result", "not ok", "no templates", "too many",
                                  "not an object", "no result", "number"])
def test_the_endpoint_refuses_what_wechat_would_not_answer(visitor, case):
    ok = "requestSubscribeMessage:ok"
    every = {tmpl(name): "accept" for name in settings.WECHAT_SUBSCRIBE_TEMPLATES}
    body = {
        "unknown template": {"result": {"errMsg": ok, tmpl("order_paid"): "accept", "made-up-id": "accept"}},
        "bad result": {"result": {"errMsg": ok, tmpl("order_paid"): "yes"}},
        "not ok": {"result": {"errMsg": "requestSubscribeMessage:fail cancel", tmpl("order_paid"): "accept"}},
        "no templates": {"result": {"errMsg": ok}},
        "too many": {"result": {"errMsg": ok, **every}},
        "not an object": {"result": ["accept"]},
        "no result": {},
        "number": {"result": {"errMsg": ok, tmpl("order_paid"): 1}},
    }[case]
    assert len(every) > 5

    response = client_for(visitor).post(URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert SubscribeConsent.objects.count() == 0


@pytest.mark.django_db
def test_the_endpoint_needs_a_visitor():
    from rest_framework.test import APIClient

    response = APIClient().post(URL, {"result": {"errMsg": "requestSubscribeMessage:ok",
                                                 tmpl("order_paid"): "accept"}}, format="json")
    assert response.status_code == 401
    assert SubscribeConsent.objects.count() == 0


# --- 消息: the customer's messages ---------------------------------------------------------------

@pytest.mark.django_db
def test_the_message_list_shows_the_customers_own_with_whether_wechat_sent_them(visitor,
                                                                               django_assert_max_num_queries):
    customer_id = visitor.customer_id
    subscribe_consent(OPENID, "delivery_done")
    with transaction.atomic():
        for i in range(25):
            notify(event_key=f"order:{i}:delivered", recipient_kind="customer", recipient_id=customer_id,
                   channel="subscribe", template="delivery_done", title=f"订单已送达 {i}",
                   data={"character_string1": f"N{i}"}, address=OPENID)
        notify(event_key="other", recipient_kind="customer", recipient_id=CustomerFactory().pk, channel="subscribe",
               template="delivery_done", title="别人的", address="oOTHER")
        notify(event_key="rep", recipient_kind="rep", recipient_id=customer_id, channel="inbox", template="x",
               title="业务员的")
    first = Notification.objects.get(event_key="order:0:delivered")
    notification_send(notification_id=first.pk)  # the one acceptance
    notification_send(notification_id=Notification.objects.get(event_key="order:1:delivered").pk)
    client = client_for(visitor)

    with django_assert_max_num_queries(4):  # the visitor, the count, the page
        response = client.get("/api/v1/messages")

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 25 and len(data["results"]) == 20
    titles = [item["title"] for item in data["results"]]
    assert "别人的" not in titles and "业务员的" not in titles
    by_title = {item["title"]: item for item in client.get("/api/v1/messages", {"page": 2}).json()["results"]}
    assert by_title["订单已送达 0"]["status"] == "sent"
    assert by_title["订单已送达 1"]["status"] == "no_consent"
    assert by_title["订单已送达 1"]["status_label"] == "未订阅，未发送"


@pytest.mark.django_db
def test_a_visitor_without_a_restaurant_has_no_messages():
    visitor = VisitorFactory(customer=None)
    response = client_for(visitor).get("/api/v1/messages")
    assert response.status_code == 200 and response.json()["count"] == 0
