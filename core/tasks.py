from django.db import transaction


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send a Celery task only once the surrounding transaction has committed.

    Tasks must never be sent from inside an open transaction: the worker could run before the
    rows it needs exist, or the transaction could roll back after the message is gone.
    """
    transaction.on_commit(lambda: task.delay(*args, **kwargs))
