"""Reminder before the cut-off, in Shanghai time: the window before the cut-off, who usually orders
for the day, already ordered, opted out, once per delivery and never twice a day, the message."""

import itertools
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from customers.tokens import visitor_token_make
from notifications.models import Notification, SubscribeConsent
from orders.models import Order, OrderSettings
from tests.factories import CustomerFactory, VisitorFactory
from usuals.models import CutoffReminder, ReminderOptOut, UsualSettings
from usuals.reminders import cutoff_reminders_send, reminder_due, usually_orders
from wechat.models import DevMessage

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
D = Decimal
TUESDAY = date(2026, 12, 8)  # the delivery day reminded for on Monday evening
_numbers = itertools.count(1)


def sh(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SH)


def order_for(customer, delivery: date, *, status=Order.Status.COMPLETED, paid=True):
    n = next(_numbers)
    moment = sh(delivery - timedelta(days=1), 12)
    return Order.objects.create(
        number=f"R{n:09d}", customer=customer, visitor=customer.visitors.first(), status=status,
        idempotency_key=f"remind-{n}", delivery_date=delivery, subtotal=D("1"), total=D("1"),
        restaurant_name=customer.name, phone=customer.phone, address="深圳", expires_at=moment,
        paid_at=moment if paid else None)


def restaurant(name, weeks_ago=(1, 2, 3), weekday_of=TUESDAY):
    """A customer with paid orders delivered on `weekday_of`'s weekday `weeks_ago` weeks before it."""
    customer = CustomerFactory(name=name)
    VisitorFactory(customer=customer)
    for k in weeks_ago:
        order_for(customer, weekday_of - timedelta(weeks=k))
    return customer


def test_without_consent_the_outbox_records_no_consent_and_sends_nothing(django_capture_on_commit_callbacks):
    """WeChat delivers a subscribe message only against the buyer's acceptance of its template: the
    reminder is written, the outbox finds no acceptance and records it, once; with one, it goes."""
    monday = TUESDAY - timedelta(days=1)
    without = restaurant("没订阅")
    with_one = restaurant("订阅了")
    accepted(with_one)

    with django_capture_on_commit_callbacks(execute=True):
        assert cutoff_reminders_send(now=sh(monday, 21, 30)).reminded == 2

    refused = Notification.objects.get(recipient_id=str(without.pk), template="cutoff_reminder")
    assert refused.status == Notification.Status.NO_CONSENT
    assert not DevMessage.objects.filter(to=without.visitors.get().openid).exists()
    assert Notification.objects.get(recipient_id=str(with_one.pk), template="cutoff_reminder").status == \
        Notification.Status.SENT
    assert DevMessage.objects.filter(to=with_one.visitors.get().openid, page="/shop/checkout/?usual=1").count() == 1
    with django_capture_on_commit_callbacks(execute=True):  # not twice that day, consent or not
        assert cutoff_reminders_send(now=sh(monday, 22, 30)).reminded == 0
    assert Notification.objects.filter(template="cutoff_reminder").count() == 2


def accepted(customer):
    """The buyer accepted the reminder's template once in WeChat (where the outbox asks for consent:
    notifications.SubscribeConsent, one acceptance per message)."""
    SubscribeConsent.objects.create(openid=customer.visitors.get().openid, template="cutoff_reminder", available=1)


def reminded():
    return set(Notification.objects.filter(template="cutoff_reminder").values_list("recipient_id", flat=True))


def test_usually_means_at_least_three_of_the_last_six_same_weekdays():
    weeks = {TUESDAY - timedelta(weeks=k) for k in (1, 4, 6)}
    assert usually_orders(delivered_on=weeks, delivery=TUESDAY, weeks=6, min_weeks=3) is True
    assert usually_orders(delivered_on=weeks - {TUESDAY - timedelta(weeks=6)}, delivery=TUESDAY, weeks=6,
                          min_weeks=3) is False
    # Other weekdays, and the same weekday seven weeks back, do not count.
    others = {TUESDAY - timedelta(days=1), TUESDAY - timedelta(days=8), TUESDAY - timedelta(weeks=7)}
    assert usually_orders(delivered_on=weeks - {TUESDAY - timedelta(weeks=6)} | others, delivery=TUESDAY,
                          weeks=6, min_weeks=3) is False


def test_the_window_is_the_lead_time_before_the_cut_off_in_shanghai_time():
    rules = OrderSettings(cutoff_time=time(23, 0))
    lead = timedelta(minutes=120)
    monday = TUESDAY - timedelta(days=1)
    assert reminder_due(now=sh(monday, 20, 59, 59), order_rules=rules, lead=lead) is None
    assert reminder_due(now=sh(monday, 21, 0), order_rules=rules, lead=lead) == TUESDAY
    assert reminder_due(now=sh(monday, 22, 59, 59), order_rules=rules, lead=lead) == TUESDAY
    assert reminder_due(now=sh(monday, 23, 0), order_rules=rules, lead=lead) is None  # the cut-off has passed
    # 21:00 in Shanghai is 13:00 UTC: a UTC clock would be eight hours off.
    assert reminder_due(now=datetime(2026, 12, 7, 13, 0, tzinfo=ZoneInfo("UTC")), order_rules=rules,
                        lead=lead) == TUESDAY
    # A cut-off after midnight: the window crosses it, and the delivery day is checkout's.
    late = OrderSettings(cutoff_time=time(1, 0))
    assert reminder_due(now=sh(monday, 23, 30), order_rules=late, lead=lead) == TUESDAY + timedelta(days=1)
    assert reminder_due(now=sh(TUESDAY, 0, 30), order_rules=late, lead=lead) == TUESDAY + timedelta(days=1)
    assert reminder_due(now=sh(TUESDAY, 1, 0), order_rules=late, lead=lead) is None


def test_reminds_who_usually_orders_for_the_day_and_has_not_yet_once(django_capture_on_commit_callbacks):
    monday = TUESDAY - timedelta(days=1)
    regular = restaurant("火锅城")
    restaurant("偶尔来", weeks_ago=(1, 5))  # two of six Tuesdays: not usual
    restaurant("周三店", weekday_of=TUESDAY + timedelta(days=1))  # Wednesdays
    ordered = restaurant("已下单")
    order_for(ordered, TUESDAY, status=Order.Status.PENDING_PAYMENT, paid=False)  # paying now
    cancelled = restaurant("取消了")
    order_for(cancelled, TUESDAY, status=Order.Status.CANCELLED)
    opted_out = restaurant("不要提醒")
    ReminderOptOut.objects.create(customer=opted_out)

    assert cutoff_reminders_send(now=sh(monday, 20, 50)).reminded == 0  # before the window
    accepted(regular)
    with django_capture_on_commit_callbacks(execute=True):
        result = cutoff_reminders_send(now=sh(monday, 21, 5))

    assert (result.delivery_date, result.reminded) == (TUESDAY, 2)
    assert reminded() == {str(regular.pk), str(cancelled.pk)}
    message = Notification.objects.get(recipient_id=str(regular.pk))
    assert (message.channel, message.template, message.link) == ("subscribe", "cutoff_reminder", "/shop/checkout/?usual=1")
    assert message.address == regular.visitors.get().openid
    assert message.body == "23:00 截单，12月8日（周二）的货还没下单，常购清单已备好"
    assert message.data["time2"] == "2026年12月07日 23:00"
    # The outbox sent it (dev WeChat): to the buyer's WeChat, opening the pre-filled checkout.
    sent = DevMessage.objects.get(to=message.address)
    assert (sent.page, sent.template_id) == ("/shop/checkout/?usual=1", "dev-template-cutoff_reminder")

    # Later in the window, and after the cut-off: nobody twice, and never after the cut-off.
    assert cutoff_reminders_send(now=sh(monday, 22, 55)).reminded == 0
    assert cutoff_reminders_send(now=sh(monday, 23, 5)).delivery_date is None
    assert Notification.objects.filter(template="cutoff_reminder").count() == 2
    assert CutoffReminder.objects.count() == 2


def test_an_order_placed_before_the_reminder_stops_it():
    monday = TUESDAY - timedelta(days=1)
    customer = restaurant("火锅城")
    order_for(customer, TUESDAY)
    assert cutoff_reminders_send(now=sh(monday, 21, 30)).reminded == 0
    assert not Notification.objects.exists() and not CutoffReminder.objects.exists()


def test_never_twice_on_one_shanghai_day_even_when_the_window_crosses_midnight():
    OrderSettings.current()
    OrderSettings.objects.filter(pk=1).update(cutoff_time=time(1, 0))
    wednesday = TUESDAY + timedelta(days=1)
    thursday = TUESDAY + timedelta(days=2)
    # Usually gets deliveries on Wednesdays and Thursdays.
    customer = restaurant("两天店", weekday_of=wednesday)
    for k in (1, 2, 3):
        order_for(customer, thursday - timedelta(weeks=k))

    # 00:30 Tuesday, before the 01:00 cut-off: the reminder for Wednesday's delivery.
    assert cutoff_reminders_send(now=sh(TUESDAY, 0, 30)).reminded == 1
    # 23:30 Tuesday: Thursday's window, but this customer was reminded today already.
    assert cutoff_reminders_send(now=sh(TUESDAY, 23, 30)).delivery_date == thursday
    assert CutoffReminder.objects.get().delivery_date == wednesday
    # 00:30 Wednesday, a new day: Thursday's reminder goes.
    assert cutoff_reminders_send(now=sh(wednesday, 0, 30)).reminded == 1
    assert sorted(CutoffReminder.objects.values_list("delivery_date", "sent_on")) == [
        (wednesday, TUESDAY), (thursday, wednesday)]


def test_the_lead_time_is_the_admins():
    monday = TUESDAY - timedelta(days=1)
    restaurant("火锅城")
    UsualSettings.current()
    UsualSettings.objects.filter(pk=1).update(reminder_lead_minutes=30)
    assert cutoff_reminders_send(now=sh(monday, 22, 20)).delivery_date is None
    assert cutoff_reminders_send(now=sh(monday, 22, 30)).reminded == 1


def client_for(visitor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client


def test_opt_out_and_back_in_through_the_api_then_no_reminder():
    monday = TUESDAY - timedelta(days=1)
    customer = restaurant("火锅城")
    client = client_for(customer.visitors.get())
    assert client.get("/api/v1/usuals/reminder").json() == {"enabled": True}

    assert client.put("/api/v1/usuals/reminder", {"enabled": False}, format="json").json() == {"enabled": False}
    assert client.put("/api/v1/usuals/reminder", {"enabled": False}, format="json").status_code == 200  # repeatable
    assert client.get("/api/v1/usuals/reminder").json() == {"enabled": False}
    assert cutoff_reminders_send(now=sh(monday, 21, 30)).reminded == 0

    assert client.put("/api/v1/usuals/reminder", {"enabled": True}, format="json").json() == {"enabled": True}
    assert not ReminderOptOut.objects.exists()


def test_a_bad_toggle_is_refused_and_changes_nothing():
    customer = restaurant("火锅城")
    client = client_for(customer.visitors.get())
    response = client.put("/api/v1/usuals/reminder", {"enabled": "maybe"}, format="json")
    assert response.status_code == 400 and "error" in response.json()
    assert client.put("/api/v1/usuals/reminder", {}, format="json").status_code == 400
    assert not ReminderOptOut.objects.exists()
    nobody = client_for(VisitorFactory())
    refused = nobody.put("/api/v1/usuals/reminder", {"enabled": False}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "phone_required"
    assert not ReminderOptOut.objects.exists()
