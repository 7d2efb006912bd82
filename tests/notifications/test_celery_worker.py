"""Celery for real: a worker in this process against the real Redis broker (docs/conventions.md, Tests)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import transaction

from notifications.models import Notification
from notifications.services import notify
from notifications.tasks import notifications_send_due
from seafood_b2b.celery import app as celery_app
from tests.factories import subscribe_consent
from wechat.models import DevMessage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

DEAD_BROKER = "redis://127.0.0.1:1/0"


def _reset_producer_pool():
    # The app keeps the pool of the broker URL it first used: forget it so a changed URL takes
    # effect (kombu keeps one pool per URL globally, so nothing is closed here).
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def real_broker():
    """Tasks go through Redis instead of running eagerly; restored afterwards."""
    saved = {k: celery_app.conf[k] for k in ("task_always_eager", "broker_url", "task_publish_retry")}
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = settings.REDIS_URL
    celery_app.conf.task_publish_retry = False
    _reset_producer_pool()
    yield celery_app
    celery_app.conf.update(saved)
    _reset_producer_pool()


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _write_event(key):
    subscribe_consent("oOPENID000000000000000000001", "delivery_done")
    with transaction.atomic():
        return notify(event_key=key, recipient_kind="customer", recipient_id=1, channel="subscribe",
                      template="delivery_done", title="订单已送达", data={"thing1": "王老板签收"},
                      address="oOPENID000000000000000000001")


def test_a_real_worker_delivers_a_notification_once(real_broker):
    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        notification = _write_event("order:worker-1:delivered")
        assert _wait_for(lambda: Notification.objects.get(pk=notification.pk).status == "sent")
        # The sweep runs too (as beat would), twice: nothing more is sent.
        notifications_send_due.delay()
        notifications_send_due.delay()
        time.sleep(1.5)
    assert DevMessage.objects.filter(to="oOPENID000000000000000000001").count() == 1


def test_broker_down_at_event_time_then_back_sends_exactly_once(real_broker):
    real_broker.conf.broker_url = DEAD_BROKER
    _reset_producer_pool()
    notification = _write_event("order:worker-2:delivered")  # commit: the enqueue fails, the row stays
    notification.refresh_from_db()
    assert notification.status == "pending"
    assert DevMessage.objects.count() == 0

    real_broker.conf.broker_url = settings.REDIS_URL
    _reset_producer_pool()
    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        notifications_send_due.delay()
        notifications_send_due.delay()
        assert _wait_for(lambda: Notification.objects.get(pk=notification.pk).status == "sent")
        time.sleep(1.0)
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert DevMessage.objects.count() == 1
