import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seafood_b2b.settings")

app = Celery("seafood_b2b")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _connect_request_id() -> None:
    """The request id travels from the request that sends a task to the task's log records
    (core/logs.py). Infrastructure, not business flow: the only signals this project uses."""
    from core import logs

    signals.before_task_publish.connect(logs.add_request_id_header, weak=False)
    signals.task_prerun.connect(logs.task_request_id_set, weak=False)
    signals.task_postrun.connect(logs.task_request_id_reset, weak=False)


_connect_request_id()


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_unsafe_production(**kwargs):
    """The worker and beat run no system checks: refuse to start here, as the web process does.

    SystemExit rather than the ImproperlyConfigured itself: Celery logs and swallows any Exception
    a signal handler raises, and the process would go on."""
    from .production import UnsafeProductionSettings, refuse_unsafe_production

    try:
        refuse_unsafe_production()
    except UnsafeProductionSettings as exc:
        raise SystemExit(str(exc)) from exc
