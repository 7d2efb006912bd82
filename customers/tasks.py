import logging

from celery import shared_task

from core.errors import Conflict

from .churn import churn_sweep, customer_order_stats_drift

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def churn_sweep_task() -> dict:
    """Nightly (02:00 Shanghai, editable in admin → 周期任务)."""
    try:
        result = churn_sweep()
    except Conflict:
        logger.warning("churn sweep skipped: another one is running")
        return {"skipped": "running"}
    return {"night": result.night.isoformat(), "churned": result.new_churned, "at_risk": result.new_at_risk,
            "reps": result.notified_reps}


@shared_task(acks_late=True)
def customer_stats_check() -> int:
    """Nightly: the rhythm columns the sweep relies on must match the orders. Reports every drift."""
    drift = customer_order_stats_drift()
    for row in drift[:100]:
        logger.error("customer order stats drift: %s", row)
    if len(drift) > 100:
        logger.error("... and %s more customers with drifting order stats", len(drift) - 100)
    return len(drift)
