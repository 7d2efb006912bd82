"""Celery tasks of purchasing: the nightly roll-up of tomorrow's paid orders into purchase tasks."""

import logging
from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from orders.models import OrderSettings

from .purchasing import purchase_tasks_build

logger = logging.getLogger(__name__)


@shared_task
def purchase_tasks_build_for_tomorrow(for_date: str | None = None) -> dict:
    """Runs a few minutes after the order cut-off (beat: 23:05 Asia/Shanghai) and builds the
    purchase tasks for the next local day; `for_date` (ISO) rebuilds another day. Safe to run
    twice: collected tasks are never touched.

    The cut-off is edited in admin (下单规则); the beat entry is not moved with it, so a run
    before the cut-off is logged: move the schedule (django-celery-beat, in admin) after it.
    """
    now = timezone.localtime()
    if for_date:
        day = date.fromisoformat(for_date)
    else:
        day = now.date() + timedelta(days=1)
        cutoff = OrderSettings.current().cutoff_time
        if now.time() < cutoff:
            logger.warning("purchase tasks for %s built at %s, before the order cut-off %s: orders paid "
                           "until the cut-off are missing; move the beat schedule after the cut-off",
                           day, now.time().strftime("%H:%M"), cutoff.strftime("%H:%M"))
    return purchase_tasks_build(for_date=day).as_dict()
