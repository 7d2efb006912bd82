import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send a Celery task only once the surrounding transaction has committed.

    Tasks must never be sent from inside an open transaction: the worker could run before the
    rows it needs exist, or the transaction could roll back after the message is gone.

    The message is only a nudge: the work it names is already recorded in the committed rows,
    and a periodic task resumes whatever is left (a pending refund, an unsettled payment). So a
    failure to send it — the broker down, or the task itself failing when tasks run eagerly in
    process — is logged and never reaches the caller, whose transaction has already committed:
    WeChat Pay must get its 2xx for a notification whose effects are stored.
    """

    def send():
        try:
            task.delay(*args, **kwargs)
        except Exception:
            logger.exception("%s%r was not sent (or failed when run in process); its periodic sweep resumes "
                             "the work", task.name, args)

    transaction.on_commit(send)
