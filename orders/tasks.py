"""Celery tasks of the orders domain: thin, idempotent wrappers around services."""

import logging

from celery import shared_task
from django.utils import timezone

from core.errors import ExternalServiceError

from . import services
from .models import Order, Refund

logger = logging.getLogger(__name__)
EXPIRY_BATCH = 500


@shared_task(acks_late=True)
def orders_expire_unpaid() -> dict:
    """Every minute: orders past their payment window are settled (if paid) or cancelled."""
    due = list(
        Order.objects.filter(status=Order.Status.PENDING_PAYMENT, expires_at__lte=timezone.now())
        .order_by("expires_at").values_list("pk", flat=True)[:EXPIRY_BATCH]
    )
    outcomes: dict[str, int] = {}
    for order_id in due:
        try:
            outcome = services.order_expire(order_id=order_id)
        except ExternalServiceError as error:
            logger.warning("could not expire order %s now (%s); next run retries", order_id, error.message)
            outcome = "retry_later"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task(acks_late=True)
def payment_sync_task(order_id: str) -> str:
    return services.payment_sync(order_id=order_id)


@shared_task(bind=True, acks_late=True, max_retries=8)
def refund_submit_task(self, refund_id: int) -> str:
    try:
        return services.refund_submit(refund_id=refund_id)
    except ExternalServiceError as error:
        if self.request.is_eager:
            # Run in the caller's process (no worker): a retry would call WeChat Pay again and
            # again inside the caller's request, then raise into it. The refund stays pending
            # with its error; refunds_retry_unfinished sends it again.
            logger.warning("refund %s not submitted now (%s); the periodic resend retries", refund_id,
                           error.message)
            return "retry_later"
        raise self.retry(countdown=min(60 * 2 ** self.request.retries, 3600), exc=error)


@shared_task(acks_late=True)
def refunds_retry_unfinished() -> int:
    """Every few minutes: refunds not yet confirmed are sent again or asked about."""
    pending = Refund.objects.filter(status__in=[Refund.Status.PENDING, Refund.Status.PROCESSING]).values_list(
        "pk", flat=True)[:200]
    count = 0
    for refund_id in pending:
        try:
            services.refund_submit(refund_id=refund_id)
            count += 1
        except ExternalServiceError as error:
            logger.warning("refund %s not submitted: %s", refund_id, error.message)
    return count
