from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from core.errors import ExternalServiceError, ValidationFailed
from notifications.models import Notification
from notifications.services import notification_retry, notification_send, notifications_send_due, notify
from wechat.messages import fit_field, subscribe_data
from tests.factories import subscribe_consent
from wechat.models import DevMessage

pytestmark = pytest.mark.django_db

S = Notification.Status
OPENID = "oOPENID000000000000000000001"


@pytest.fixture(autouse=True)
def _accepted():
    """The outbox's own mechanics, with the user's consent given (consent: test_consent.py)."""
    subscribe_consent(OPENID, "delivery_done", times=5)


def write(event_key="order:1:delivered", channel="subscribe", **overrides):
    fields = dict(event_key=event_key, recipient_kind="customer", recipient_id=7, channel=channel,
                  template="delivery_done", title="订单已送达",
                  data={"character_string1": "26112312345678", "thing2": "王老板签收"},
                  link="pages/order/detail?id=1", address="oOPENID000000000000000000001")
    fields.update(overrides)
    with transaction.atomic():
        return notify(**fields)


@pytest.mark.django_db(transaction=True)
def test_notify_outside_a_transaction_is_a_programming_error():
    with pytest.raises(RuntimeError):
        notify(event_key="x", recipient_kind="customer", recipient_id=1, channel="subscribe", template="t", title="t")


def test_a_rolled_back_event_leaves_no_notification():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        notify(event_key="order:1:paid", recipient_kind="customer", recipient_id=1, channel="subscribe",
               template="order_paid", title="付款成功")
        1 / 0
    assert Notification.objects.count() == 0


def test_same_event_and_recipient_is_written_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = write()
        again = write()
    assert first is not None and again is None
    assert Notification.objects.count() == 1
    assert DevMessage.objects.count() == 1


def test_sent_after_commit_with_fitted_fields(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = write(data={"thing2": "由店里的王老板在后门冷库旁签收并确认了数量"})
    notification.refresh_from_db()
    assert notification.status == S.SENT and notification.attempts == 1
    message = DevMessage.objects.get()
    assert message.to == "oOPENID000000000000000000001"
    assert message.template_id == "dev-template-delivery_done"
    assert message.page == "pages/order/detail?id=1"
    assert message.data == {"thing2": {"value": "由店里的王老板在后门冷库旁签收并确认了…"}}
    assert len(message.data["thing2"]["value"]) == 20


def test_inbox_messages_are_delivered_by_being_written():
    notification = write(channel="inbox", recipient_kind="rep")
    assert notification.status == S.SENT
    assert DevMessage.objects.count() == 0


def test_sending_twice_sends_once():
    notification = write()  # on_commit not run: nothing sent yet
    assert notification_send(notification_id=notification.pk) == "sent"
    assert notification_send(notification_id=notification.pk) == "not_claimed"
    assert DevMessage.objects.count() == 1


def test_the_sweep_sends_what_was_never_enqueued():
    notification = write()
    outcome = notifications_send_due()
    assert outcome["sent"] == 1
    notification.refresh_from_db()
    assert notification.status == S.SENT
    assert notifications_send_due().get("sent", 0) == 0


def _fail_with(monkeypatch, error):
    from wechat.backends.dev_messages import DevMessagesMixin

    def boom(self, **kwargs):
        raise error

    monkeypatch.setattr(DevMessagesMixin, "send_subscribe_message", boom)


def test_a_transport_failure_is_retried_later_with_backoff(monkeypatch):
    notification = write()
    _fail_with(monkeypatch, ExternalServiceError("微信服务暂时不可用", details={"reason": "connection"}))
    assert notification_send(notification_id=notification.pk) == "retry"
    notification.refresh_from_db()
    assert notification.status == S.PENDING and notification.attempts == 1
    assert notification.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert notifications_send_due().get("retry", 0) == 0  # not due yet
    monkeypatch.undo()
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert notifications_send_due()["sent"] == 1


def test_a_timeout_is_never_resent_automatically(monkeypatch):
    notification = write()
    _fail_with(monkeypatch, ExternalServiceError("超时", details={"reason": "timeout"}))
    assert notification_send(notification_id=notification.pk) == "unknown"
    monkeypatch.undo()
    with time_machine.travel(timezone.now() + timedelta(hours=7)):
        assert notifications_send_due().get("sent", 0) == 0
    assert notification_retry(notification_id=notification.pk) is True
    assert notification_send(notification_id=notification.pk) == "sent"


def test_a_refused_message_is_skipped_not_retried(monkeypatch):
    from wechat.backends.messages_base import MessageRefused

    notification = write()
    _fail_with(monkeypatch, MessageRefused("用户未订阅", code="43101"))
    assert notification_send(notification_id=notification.pk) == "skipped"
    notification.refresh_from_db()
    assert notification.last_error.startswith("43101")


def test_gives_up_after_the_last_attempt(monkeypatch):
    from notifications.services import MAX_ATTEMPTS

    notification = write()
    Notification.objects.filter(pk=notification.pk).update(attempts=MAX_ATTEMPTS - 1)
    _fail_with(monkeypatch, ExternalServiceError("微信服务暂时不可用", details={"reason": "http_status"}))
    assert notification_send(notification_id=notification.pk) == "failed"


def test_a_send_stuck_after_a_killed_worker_is_flagged_not_repeated():
    notification = write()
    Notification.objects.filter(pk=notification.pk).update(status=S.SENDING, claimed_at=timezone.now())
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert notifications_send_due()["stuck"] == 1
    notification.refresh_from_db()
    assert notification.status == S.UNKNOWN
    assert DevMessage.objects.count() == 0


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        ("thing", "短", "短"),
        ("thing", "一" * 25, "一" * 19 + "…"),
        ("character_string", "26112312345678", "26112312345678"),
        ("amount", "¥128.50", "¥128.50"),
        ("amount", "128.50元", "128.50元"),
        ("phrase", "已送达", "已送达"),
        ("time", "2026年11月24日 09:30", "2026年11月24日 09:30"),
        ("date", "2026-11-24", "2026-11-24"),
        ("name", "欧阳王老板的朋友们啊啊", "欧阳王老板的朋友们…"),
    ],
)
def test_subscribe_fields_are_fitted_to_wechats_rules(kind, value, expected):
    assert fit_field(kind, value) == expected


@pytest.mark.parametrize(
    "kind, value",
    [("character_string", "订单123"), ("character_string", "x" * 33), ("amount", "一百元"), ("phrase", "配送完成了啊"),
     ("phrase", "ok"), ("time", "明天上午"), ("number", "12a"), ("unknown", "x")],
)
def test_unfittable_fields_are_refused(kind, value):
    with pytest.raises(ValidationFailed):
        fit_field(kind, value)


def test_subscribe_data_reads_types_from_keys():
    assert subscribe_data({"thing1": "冻虾", "amount2": "¥1.00"}) == {"thing1": {"value": "冻虾"},
                                                                       "amount2": {"value": "¥1.00"}}


def test_a_configuration_error_fails_the_row_instead_of_leaving_it_stuck(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    notification = write()
    _fail_with(monkeypatch, ImproperlyConfigured("WECOM_AGENT_ID is not set"))
    assert notification_send(notification_id=notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.status == S.FAILED and "WECOM_AGENT_ID" in notification.last_error


def test_notify_many_writes_once_per_event_and_sends_after_commit(django_capture_on_commit_callbacks):
    from notifications.services import notify_many

    items = [{"event_key": f"churn:{i}", "recipient_kind": "rep", "recipient_id": 3, "channel": "inbox",
              "template": "churn_alert", "title": f"流失：{i}"} for i in range(3)]
    items.append({"event_key": "digest:1", "recipient_kind": "rep", "recipient_id": 3, "channel": "wecom",
                  "template": "churn_digest", "title": "流失提醒", "address": "zhangsan"})
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            notify_many(items)
        with transaction.atomic():
            notify_many(items)  # a rerun: nothing new
    assert Notification.objects.count() == 4
    assert Notification.objects.get(channel="wecom").status == S.SENT
    assert DevMessage.objects.filter(to="zhangsan").count() == 1


def test_notify_many_from_sql_applies_the_outbox_rules_once_and_sends_after_commit(django_capture_on_commit_callbacks):
    from notifications.services import notify_many_from_sql

    select = ("SELECT 'churn:' || i AS event_key, 'rep' AS recipient_kind, 3 AS recipient_id, 'inbox' AS channel, "
              "'churn_alert' AS template, repeat('流', 70) AS title, '' AS body, '/rep/' AS link, "
              "jsonb_build_object('i', i) AS data, '' AS address FROM generate_series(1, %(n)s) i "
              "UNION ALL SELECT 'digest:1', 'rep', 3, 'wecom', 'churn_digest', '流失提醒', '', '', NULL, 'zhangsan'")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            assert notify_many_from_sql(select, {"n": 3}) == 4
        with transaction.atomic():
            assert notify_many_from_sql(select, {"n": 3}) == 0  # a rerun: nothing new
    assert Notification.objects.count() == 4
    inbox = Notification.objects.get(event_key="churn:2")
    assert (inbox.status, inbox.title, inbox.data, inbox.recipient_id) == (S.SENT, "流" * 60, {"i": 2}, "3")
    assert inbox.sent_at is not None and inbox.attempts == 0
    assert Notification.objects.get(channel="wecom").status == S.SENT  # pending, then sent after commit
    assert DevMessage.objects.filter(to="zhangsan").count() == 1


@pytest.mark.django_db(transaction=True)
def test_notify_many_from_sql_outside_a_transaction_is_a_programming_error():
    from notifications.services import notify_many_from_sql

    with pytest.raises(RuntimeError):
        notify_many_from_sql("SELECT 1", {})
