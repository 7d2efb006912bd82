import logging

from celery import shared_task

from .reports import inventory_value_snapshot
from .selectors import stock_ledger_drift

logger = logging.getLogger(__name__)


@shared_task
def stock_check_ledger() -> int:
    """Nightly: on-hand and reserved stock must equal their ledger sums. Reports every drift."""
    drift = stock_ledger_drift()
    for row in drift:
        logger.error("stock ledger drift: %s", row)
    if not drift:
        logger.info("stock ledger check: no drift")
    return len(drift)


@shared_task(acks_late=True)
def inventory_value_snapshot_task() -> int:
    """End of day (23:55 Shanghai): the inventory value behind the turnover report."""
    return inventory_value_snapshot()
