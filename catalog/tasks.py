from celery import shared_task

from .price_lists import refresh


@shared_task(acks_late=True)
def price_lists_refresh_task() -> dict:
    """Nightly at 00:01 Shanghai (editable in admin → 周期任务): the lists in force follow the
    lists whose dates start or end today (catalog.price_lists). Safe to rerun."""
    return {"changed": refresh(None)}
