from celery import shared_task

from . import services


@shared_task
def complaints_escalate_overdue() -> int:
    """Beat, every 5 minutes: one escalation round for each overdue complaint whose next round has
    come (the interval itself is ComplaintSettings'). Safe to run twice: a round happens once."""
    return services.complaints_escalate_overdue()
