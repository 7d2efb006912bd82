from celery import shared_task

from . import wecom_links, wecom_tags, wecom_transfer


@shared_task(acks_late=True)
def wecom_transfers_submit_task(handover_id: int) -> int:
    """Send a handover's WeCom transfers (safe twice: rows are claimed before the call)."""
    return wecom_transfer.wecom_transfers_submit(handover_id=handover_id)


@shared_task(acks_late=True)
def wecom_transfers_poll_task() -> int:
    """Periodic: resend pending transfers and read WeCom's result for the waiting ones."""
    return wecom_transfer.wecom_transfers_poll()


@shared_task(acks_late=True)
def wecom_contact_profile_task(contact_id: int) -> int | None:
    """After an add callback: fetch the customer's WeCom profile and link the restaurant (safe twice)."""
    contact = wecom_links.wecom_contact_profile_fetch(contact_id=contact_id)
    return contact.customer_id if contact is not None else None


@shared_task(acks_late=True)
def wecom_tags_sync_task() -> tuple[int, int]:
    """Periodic: mirror the company's tags as WeCom corp tags and each contact's marks (idempotent)."""
    return wecom_tags.wecom_tags_sync()
