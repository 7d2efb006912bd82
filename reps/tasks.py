from celery import shared_task

from . import wecom_transfer


@shared_task(acks_late=True)
def wecom_transfers_submit_task(handover_id: int) -> int:
    """Send a handover's WeCom transfers (safe twice: rows are claimed before the call)."""
    return wecom_transfer.wecom_transfers_submit(handover_id=handover_id)


@shared_task(acks_late=True)
def wecom_transfers_poll_task() -> int:
    """Periodic: resend pending transfers and read WeCom's result for the waiting ones."""
    return wecom_transfer.wecom_transfers_poll()
