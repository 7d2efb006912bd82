from celery import shared_task

from . import services


@shared_task(acks_late=True)
def notification_send_task(notification_id: int) -> str:
    return services.notification_send(notification_id=notification_id)


@shared_task(acks_late=True)
def notifications_send_due() -> dict:
    return services.notifications_send_due()
