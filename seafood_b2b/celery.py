import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seafood_b2b.settings")

app = Celery("seafood_b2b")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
