"""The dev WeChat Pay re-sends an unacknowledged notification on WeChat Pay's own schedule."""

from types import SimpleNamespace

import pytest

from wechat import tasks


class Retry(Exception):
    pass


def _task(retries):
    seen = {}

    def retry(countdown):
        seen["countdown"] = countdown
        return Retry()

    return SimpleNamespace(request=SimpleNamespace(retries=retries), retry=retry), seen


@pytest.mark.parametrize("retries, countdown", [(0, 15), (1, 15), (2, 30), (3, 180), (4, 600), (9, 3600)])
def test_a_refused_notification_is_sent_again_on_wechats_schedule(settings, retries, countdown):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    task, seen = _task(retries)

    with pytest.raises(Retry):
        tasks._post(task, "http://127.0.0.1:1/payments/wechatpay/notify", {}, b"{}")  # nobody listens

    assert seen["countdown"] == countdown


def test_the_schedule_stays_within_redis_visibility_timeout(settings):
    assert max(tasks.NOTIFY_RETRY_SECONDS) < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert tasks.dev_deliver_pay_notification.max_retries == len(tasks.NOTIFY_RETRY_SECONDS)
