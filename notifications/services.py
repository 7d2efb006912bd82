"""The notification outbox: write with the event, send after commit, resend what is left.

Guarantees:
- once per (event, recipient, channel): a unique row; writing it again is a no-op;
- nothing lost when the broker or the worker is down: the row is in the database with the event,
  and `notifications_send_due` (every minute) sends whatever is still pending;
- at most once: a row is claimed (pending → sending) by one conditional UPDATE before WeChat is
  called. A send whose outcome is unknown (timeout, a worker killed mid-call) is never repeated
  automatically; it is marked `unknown` for a person to look at;
- with consent: a subscribe message spends one of the user's acceptances of its template
  (notifications.consent) just before WeChat is called; with none left it is `no_consent`, final,
  never retried. A send that failed without reaching the user gives the acceptance back.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, ExternalServiceError
from core.sql import column, table
from wechat.backends import get_backend
from wechat.backends.messages_base import MessageRefused
from wechat.messages import subscribe_data

from .consent import consent_give_back, consent_take
from .models import Notification

logger = logging.getLogger(__name__)
BACKOFF_SECONDS = [30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600]
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
STALE_SENDING = timedelta(minutes=10)

Channel = Notification.Channel
Status = Notification.Status


def notify(*, event_key: str, recipient_kind: str, recipient_id, channel: str, template: str, title: str,
           body: str = "", data: dict | None = None, link: str = "", address: str = "") -> Notification | None:
    """Write a notification in the caller's transaction; it is sent once that transaction commits.

    Returns the new row, or None if this event already notified this recipient on this channel.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notify() must run inside the transaction of the event it announces")
    now = timezone.now()
    inbox = channel == Channel.INBOX
    notification, created = Notification.objects.get_or_create(
        event_key=event_key[:120], recipient_kind=recipient_kind, recipient_id=str(recipient_id), channel=channel,
        defaults={
            "template": template, "title": title[:60], "body": body[:500], "data": data or {}, "link": link[:255],
            "address": address, "next_attempt_at": now,
            # The inbox is delivered by being written.
            "status": Status.SENT if inbox else Status.PENDING, "sent_at": now if inbox else None,
        },
    )
    if not created:
        return None
    if not inbox:
        transaction.on_commit(lambda: _dispatch(notification.pk))
    return notification


def notify_many(items: list[dict]) -> None:
    """notify() for many rows at once (a nightly sweep's alerts): one INSERT per thousand rows.

    Each item has notify()'s keyword arguments. Rows already written for their event are skipped
    (the same uniqueness), and whatever is to be sent goes out after commit through one send-due
    task instead of one task per row.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notify_many() must run inside the transaction of the events it announces")
    now = timezone.now()
    rows = []
    for item in items:
        inbox = item["channel"] == Channel.INBOX
        rows.append(Notification(
            event_key=item["event_key"][:120], recipient_kind=item["recipient_kind"],
            recipient_id=str(item["recipient_id"]), channel=item["channel"], template=item["template"],
            title=item["title"][:60], body=item.get("body", "")[:500], data=item.get("data") or {},
            link=item.get("link", "")[:255], address=item.get("address", ""), next_attempt_at=now,
            status=Status.SENT if inbox else Status.PENDING, sent_at=now if inbox else None,
        ))
    Notification.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    if any(row.channel != Channel.INBOX for row in rows):
        transaction.on_commit(_dispatch_due)


def notify_many_from_sql(select_sql: str, params: dict) -> int:
    """notify_many() for rows the database already holds (a nightly sweep's alerts at 100× data):
    one INSERT … SELECT, nothing read into Python. Returns how many rows were written.

    `select_sql` yields, per notification, the columns named event_key, recipient_kind,
    recipient_id, channel, template, title, body, link, data (jsonb) and address. The outbox's rules
    are applied here as in notify(): the same lengths, the inbox written as sent, every other channel
    pending and sent after commit through one send-due task; a row already written for its event,
    recipient and channel is skipped (the same uniqueness).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notify_many_from_sql() must run inside the transaction of the events it announces")
    names = ("event_key", "recipient_kind", "recipient_id", "address", "channel", "template", "title", "body", "data",
             "link", "status", "attempts", "next_attempt_at", "sent_at", "last_error", "created_at")
    columns = ", ".join(column(Notification, name) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH written AS (INSERT INTO {table(Notification)} ({columns}) "
            "SELECT left(s.event_key, 120), s.recipient_kind, s.recipient_id::text, coalesce(s.address, ''), s.channel, "
            "s.template, left(s.title, 60), left(coalesce(s.body, ''), 500), coalesce(s.data, '{}'::jsonb), "
            "left(coalesce(s.link, ''), 255), "
            "CASE WHEN s.channel = %(outbox_inbox)s THEN %(outbox_sent)s ELSE %(outbox_pending)s END, 0, "
            "%(outbox_now)s, CASE WHEN s.channel = %(outbox_inbox)s THEN %(outbox_now)s::timestamptz END, '', "
            f"%(outbox_now)s FROM ({select_sql}) s ON CONFLICT DO NOTHING RETURNING {column(Notification, 'channel')}) "
            f"SELECT count(*), count(*) FILTER (WHERE {column(Notification, 'channel')} <> %(outbox_inbox)s) "
            "FROM written",
            {**params, "outbox_now": timezone.now(), "outbox_inbox": Channel.INBOX, "outbox_sent": Status.SENT,
             "outbox_pending": Status.PENDING})
        written, to_send = cursor.fetchone()
    if to_send:
        transaction.on_commit(_dispatch_due)
    return written


def _dispatch_due() -> None:
    from .tasks import notifications_send_due as send_due_task

    try:
        send_due_task.delay()
    except Exception as error:  # the broker is down: the minutely sweep sends them
        logger.warning("could not enqueue the send-due task (%s); the resend sweep will send them", error)


def _dispatch(notification_id: int) -> None:
    from .tasks import notification_send_task

    try:
        notification_send_task.delay(notification_id)
    except Exception as error:  # the broker is down: the row waits for the sweep
        logger.warning("could not enqueue notification %s (%s); the resend sweep will send it",
                       notification_id, error)


def _subscribe_payload(notification: Notification) -> tuple[str, dict]:
    """(template id, fitted data), or an ApplicationError: checked before an acceptance is spent."""
    template_id = settings.WECHAT_SUBSCRIBE_TEMPLATES.get(notification.template)
    if not template_id:
        raise MessageRefused(f"未配置订阅消息模板 {notification.template}", code="no_template")
    return template_id, subscribe_data(notification.data)


def _deliver(notification: Notification, payload: tuple[str, dict] | None) -> None:
    backend = get_backend()
    if notification.channel == Channel.SUBSCRIBE:
        template_id, data = payload
        backend.send_subscribe_message(openid=notification.address, template_id=template_id,
                                       page=notification.link, data=data)
    elif notification.channel == Channel.WECOM:
        text = "\n".join(part for part in (notification.title, notification.body, notification.link) if part)
        backend.send_staff_message(user_id=notification.address, text=text)


# WeChat says the user has no subscription (43101): the acceptance we counted is gone there too.
_SPENT_AT_WECHAT = {"43101"}


def notification_send(*, notification_id: int) -> str:
    """Send one notification if it is due and nobody else has claimed it. Safe to run twice."""
    now = timezone.now()
    claimed = Notification.objects.filter(pk=notification_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "not_claimed"
    notification = Notification.objects.get(pk=notification_id)
    payload, consented = None, False
    if notification.channel == Channel.SUBSCRIBE:
        try:
            payload = _subscribe_payload(notification)
        except ApplicationError as error:
            return _finish(notification, Status.SKIPPED, f"{error.code}: {error.message}")
        consented = consent_take(openid=notification.address, template=notification.template)
        if not consented:
            return _finish(notification, Status.NO_CONSENT, "客户没有可用的订阅授权（未同意该模板，或已用完）")

    def give_back():
        if consented:
            consent_give_back(openid=notification.address, template=notification.template)

    try:
        _deliver(notification, payload)
    except ExternalServiceError as error:
        if (error.details or {}).get("reason") == "timeout":
            return _finish(notification, Status.UNKNOWN, f"超时，可能已送达：{error.message}")
        give_back()
        if notification.attempts >= MAX_ATTEMPTS:
            return _finish(notification, Status.FAILED, error.message)
        delay = BACKOFF_SECONDS[min(notification.attempts - 1, len(BACKOFF_SECONDS) - 1)]
        Notification.objects.filter(pk=notification.pk, status=Status.SENDING).update(
            status=Status.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=delay),
            last_error=error.message[:300])
        return "retry"
    except ApplicationError as error:  # refused for good (no subscription, bad field, no template)
        if error.code not in _SPENT_AT_WECHAT:
            give_back()
        return _finish(notification, Status.SKIPPED, f"{error.code}: {error.message}")
    except ImproperlyConfigured as error:  # nothing was sent; a person must fix the settings, then retry
        give_back()
        return _finish(notification, Status.FAILED, f"配置错误：{error}")
    return _finish(notification, Status.SENT, "")


def _finish(notification: Notification, status: str, error: str) -> str:
    Notification.objects.filter(pk=notification.pk, status=Status.SENDING).update(
        status=status, last_error=error[:300], sent_at=timezone.now() if status == Status.SENT else None)
    return status


def notifications_send_due(*, limit: int = 500) -> dict:
    """The sweep: send what is due (lost enqueues, retries) and flag sends stuck mid-call."""
    now = timezone.now()
    stuck = Notification.objects.filter(status=Status.SENDING, claimed_at__lt=now - STALE_SENDING).update(
        status=Status.UNKNOWN, last_error="发送中断（进程退出），可能已送达，请人工确认")
    due = list(Notification.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    outcomes: dict[str, int] = {"stuck": stuck}
    for notification_id in due:
        outcome = notification_send(notification_id=notification_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def notification_retry(*, notification_id: int) -> bool:
    """A person decided to send an `unknown` or `failed` notification again."""
    return bool(Notification.objects.filter(pk=notification_id, status__in=[Status.UNKNOWN, Status.FAILED]).update(
        status=Status.PENDING, next_attempt_at=timezone.now(), last_error=""))
