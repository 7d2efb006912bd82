import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seafood_b2b.settings")

app = Celery("seafood_b2b")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
