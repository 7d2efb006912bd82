from celery import shared_task

from .list_read import forget_old_counts
from .lost import lost_items_sweep
from .reminders import cutoff_reminders_send


@shared_task(acks_late=True)
def lost_items_sweep_task() -> dict:
    """Nightly, after the churn sweep (02:20 Shanghai, editable in admin → 周期任务). Safe to rerun."""
    result = lost_items_sweep()
    forgotten = forget_old_counts()  # 我的常购's kept counts no read uses any more
    return {"night": result.night.isoformat(), "alerts": result.new_alerts, "reps": result.notified_reps,
            "counts_forgotten": forgotten}


@shared_task(acks_late=True)
def cutoff_reminders_task() -> dict:
    """Every 10 minutes; sends only in the window before the cut-off (usuals.reminders)."""
    result = cutoff_reminders_send()
    return {"delivery_date": result.delivery_date.isoformat() if result.delivery_date else None,
            "reminded": result.reminded}
