import logging

import requests
from celery import shared_task
from django.conf import settings

from .models import DevPayTransaction, DevRefund
from .pay import crypto, keys

logger = logging.getLogger(__name__)

# WeChat Pay's own schedule for a notification the merchant did not acknowledge (WECHAT.md: 15s/15s/
# 30s/3m/10m/20m/30m/30m/30m/60m/3h/…, 24 h in all), up to the hour: a countdown longer than Redis's
# visibility_timeout (2 h) would be delivered twice by Redis (README, Processes). ~2.5 h in all.
NOTIFY_RETRY_SECONDS = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600)


@shared_task(bind=True, max_retries=len(NOTIFY_RETRY_SECONDS), acks_late=True)
def dev_deliver_pay_notification(self, out_trade_no: str) -> int | None:
    """The dev WeChat Pay posting TRANSACTION.SUCCESS to the merchant, as v3 does.

    A merchant that answers other than 200/204 is retried (WeChat Pay retries for 24 h; here
    a few times, quickly). Returns the merchant's HTTP status.
    """
    from .backends.dev_pay import dev_transaction_resource

    tx = DevPayTransaction.objects.filter(out_trade_no=out_trade_no).first()
    if tx is None or tx.state != DevPayTransaction.State.SUCCESS:
        return None
    headers, body = crypto.build_notification(
        event_type="TRANSACTION.SUCCESS", resource=dev_transaction_resource(out_trade_no),
        platform_key=keys.dev_platform_private_key(), serial=keys.DEV_PLATFORM_KEY_ID,
        apiv3_key=settings.WECHATPAY_APIV3_KEY, summary="支付成功",
    )
    return _post(self, tx.notify_url, headers, body)


@shared_task(bind=True, max_retries=len(NOTIFY_RETRY_SECONDS), acks_late=True)
def dev_deliver_refund_notification(self, out_refund_no: str) -> int | None:
    """The dev WeChat Pay posting REFUND.<status> to the refund's notify_url, as v3 does."""
    from .backends.dev_pay import dev_refund_resource

    refund = DevRefund.objects.filter(out_refund_no=out_refund_no).first()
    if refund is None or not refund.notify_url:
        return None
    headers, body = crypto.build_notification(
        event_type=f"REFUND.{refund.status}", resource=dev_refund_resource(out_refund_no),
        platform_key=keys.dev_platform_private_key(), serial=keys.DEV_PLATFORM_KEY_ID,
        apiv3_key=settings.WECHATPAY_APIV3_KEY, summary="退款状态变化", original_type="refund",
    )
    return _post(self, refund.notify_url, headers, body)


def _post(task, url: str, headers: dict, body: bytes) -> int | None:
    try:
        response = requests.post(url, data=body, headers=headers, timeout=5)
        status = response.status_code
    except requests.RequestException as error:
        logger.warning("dev pay notification to %s failed: %s", url, error)
        status = None
    if status not in (200, 204) and not settings.CELERY_TASK_ALWAYS_EAGER:
        raise task.retry(countdown=NOTIFY_RETRY_SECONDS[min(task.request.retries, len(NOTIFY_RETRY_SECONDS) - 1)])
    return status
