from django.db.models import QuerySet

from .models import Notification


def customer_messages(*, customer_id: int | None) -> QuerySet[Notification]:
    """What we told the customer (WeChat subscribe messages and in-app ones), newest first.

    Every message is listed whether WeChat delivered it or not (status: sent, no consent…), so the
    消息 page is where a customer who declined the subscription still reads it. One query a page,
    on notification_inbox_idx.
    """
    if not customer_id:
        return Notification.objects.none()
    return (Notification.objects.filter(recipient_kind=Notification.Recipient.CUSTOMER, recipient_id=str(customer_id),
                                        channel__in=[Notification.Channel.SUBSCRIBE, Notification.Channel.INBOX])
            .order_by("-created_at", "-id"))
