import logging

from celery import shared_task

from core.errors import Conflict

from .autotags import auto_tags_recompute

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def auto_tags_task() -> dict:
    """Nightly (02:30 Shanghai, after the churn sweep; editable in admin → 周期任务)."""
    try:
        result = auto_tags_recompute()
    except Conflict:
        logger.warning("auto tags skipped: another run is going")
        return {"skipped": "running"}
    return {"wanted": result.wanted, "added": result.added, "removed": result.removed}
