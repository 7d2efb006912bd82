"""Reminder before the cut-off: one subscribe message to a customer who usually orders for the
next delivery day and has not ordered yet, a little before the cut-off, linking to checkout with
the usual basket in the cart (they review and pay: WeChat Pay needs the buyer's tap every time).

The rules, in Shanghai time (the cut-off is 下单规则's `cutoff_time`, and the delivery day an order
placed now gets is orders.services.checkout_rules.delivery_date_for — the same rule checkout uses):
- when (`reminder_due`, pure): from `reminder_lead_minutes` (常购设置, default 120) before the next
  cut-off until the cut-off itself; the reminder is for the delivery day an order placed now gets
  (before the cut-off: tomorrow). Outside that window nothing is sent; after the cut-off, nothing.
- who usually orders for that day (`usually_orders`, pure): among the `reminder_weeks` (default 6)
  same weekdays before the delivery day (delivery − 7 days, − 14 days, …), the customer had a paid,
  not cancelled order delivered on at least `reminder_min_weeks` (default 3) of them.
- not yet ordered: no order for that delivery day that is not cancelled (one awaiting payment
  counts: they are paying). An order placed after the reminder was sent cannot unsend it, but no
  reminder is ever written for a customer who has ordered.
- not opted out (ReminderOptOut: the toggle on 我的常购, `PUT /api/v1/usuals/reminder`);
- once per delivery day and never twice on one Shanghai day (CutoffReminder's two unique
  constraints), whatever the cut-off and lead times are set to and however often the task runs.

Consent is the outbox's business: the message is written with template `cutoff_reminder` and the
outbox sends only what the customer accepted (WeChat's subscribe rule), recording the rest.

`cutoff_reminders_send` runs every 10 minutes (beat); the customers are found in one statement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from customers.models import Customer
from orders.models import Order, OrderSettings
from orders.services.checkout_rules import delivery_date_for

from .models import CutoffReminder, ReminderOptOut, UsualSettings

logger = logging.getLogger(__name__)
WEEKDAYS = "一二三四五六日"
CHECKOUT_LINK = "/shop/checkout/?usual=1"


def next_cutoff(*, now: datetime, cutoff_time) -> datetime:
    """The next cut-off moment after `now` (today's if still ahead, else tomorrow's), in Shanghai time."""
    local = timezone.localtime(now)
    today = datetime.combine(local.date(), cutoff_time, tzinfo=local.tzinfo)
    return today if local < today else datetime.combine(local.date() + timedelta(days=1), cutoff_time,
                                                        tzinfo=local.tzinfo)


def reminder_due(*, now: datetime, order_rules, lead: timedelta) -> date | None:
    """The delivery day to remind for at `now`, or None outside [cut-off − lead, cut-off)."""
    cutoff = next_cutoff(now=now, cutoff_time=order_rules.cutoff_time)
    if not cutoff - lead <= timezone.localtime(now) < cutoff:
        return None
    return delivery_date_for(moment=now, settings_row=order_rules)


def usual_weeks(delivery: date, weeks: int) -> list[date]:
    """The same weekday in each of the `weeks` weeks before `delivery`."""
    return [delivery - timedelta(weeks=k) for k in range(1, weeks + 1)]


def usually_orders(*, delivered_on: set[date], delivery: date, weeks: int, min_weeks: int) -> bool:
    """Did the customer get deliveries on this weekday in at least `min_weeks` of the last `weeks`?"""
    return len(delivered_on & set(usual_weeks(delivery, weeks))) >= min_weeks


@dataclass(frozen=True)
class ReminderResult:
    delivery_date: date | None
    reminded: int


def reminder_candidates(*, delivery: date, today: date, settings: UsualSettings):
    """(customer id, openid) of everyone to remind for `delivery` now: one statement."""
    regular = (Order.objects.filter(delivery_date__in=usual_weeks(delivery, settings.reminder_weeks),
                                    paid_at__isnull=False)
               .exclude(status=Order.Status.CANCELLED).values("customer_id")
               .annotate(weeks=Count("delivery_date", distinct=True))
               .filter(weeks__gte=settings.reminder_min_weeks).values("customer_id"))
    ordered = Order.objects.filter(delivery_date=delivery).exclude(status=Order.Status.CANCELLED).values("customer_id")
    reminded = CutoffReminder.objects.filter(Q(delivery_date=delivery) | Q(sent_on=today)).values("customer_id")
    # The WeChat user who paid their latest order gets it (a restaurant may order from several phones).
    openid = (Order.objects.filter(customer=OuterRef("pk"), paid_at__isnull=False).order_by("-paid_at")
              .values("visitor__openid")[:1])
    return (Customer.objects.filter(pk__in=regular).exclude(pk__in=ordered).exclude(pk__in=reminded)
            .exclude(pk__in=ReminderOptOut.objects.values("customer_id"))
            .annotate(openid=Subquery(openid)).values_list("pk", "openid").order_by("pk"))


def cutoff_reminders_send(*, now: datetime | None = None) -> ReminderResult:
    """Write tonight's reminders and their subscribe messages (sent after commit). Safe to run
    twice: a second run at once waits for the first's lock, then finds everyone reminded."""
    from notifications.services import notify_many

    now = now or timezone.now()
    order_rules = OrderSettings.current()
    UsualSettings.current()  # the row to lock exists
    with transaction.atomic():
        settings = UsualSettings.objects.select_for_update().get(pk=1)
        delivery = reminder_due(now=now, order_rules=order_rules,
                                lead=timedelta(minutes=settings.reminder_lead_minutes))
        if delivery is None:
            return ReminderResult(delivery_date=None, reminded=0)
        today = timezone.localdate(now)
        rows = [(pk, openid) for pk, openid in reminder_candidates(delivery=delivery, today=today, settings=settings)
                if openid]
        CutoffReminder.objects.bulk_create(
            [CutoffReminder(customer_id=pk, delivery_date=delivery, sent_on=today) for pk, _ in rows],
            batch_size=1000)
        cutoff = next_cutoff(now=now, cutoff_time=order_rules.cutoff_time)
        weekday = WEEKDAYS[delivery.weekday()]
        notify_many([{
            "event_key": f"cutoff-reminder:{delivery.isoformat()}", "recipient_kind": "customer", "recipient_id": pk,
            "channel": "subscribe", "template": "cutoff_reminder", "title": "截单提醒",
            "body": f"{cutoff:%H:%M} 截单，{delivery.month}月{delivery.day}日（周{weekday}）的货还没下单，常购清单已备好",
            "data": {"thing1": f"周{weekday}的常购商品还没下单", "time2": f"{cutoff:%Y年%m月%d日 %H:%M}",
                     "thing3": "常购清单已备好，确认后付款"},
            "link": CHECKOUT_LINK, "address": openid,
        } for pk, openid in rows])
    logger.info("cut-off reminders for %s: %s customers", delivery, len(rows))
    return ReminderResult(delivery_date=delivery, reminded=len(rows))


def reminder_enabled(*, customer_id: int) -> bool:
    return not ReminderOptOut.objects.filter(customer_id=customer_id).exists()


def reminder_set(*, customer_id: int, enabled: bool) -> bool:
    """The customer's choice; safe to repeat."""
    if enabled:
        ReminderOptOut.objects.filter(customer_id=customer_id).delete()
    else:
        ReminderOptOut.objects.get_or_create(customer_id=customer_id)
    return enabled
