from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "基础"

    def ready(self):
        from seafood_b2b.production import check_production_settings

        checks.register(check_production_settings)

        from celery.signals import task_prerun
        from django.core.signals import request_started

        from core.db import drop_dead_connections

        request_started.connect(drop_dead_connections, dispatch_uid="core.drop_dead_connections")
        task_prerun.connect(drop_dead_connections, dispatch_uid="core.drop_dead_connections", weak=False)
