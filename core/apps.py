from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "基础"

    def ready(self):
        from seafood_b2b.production import check_production_settings

        checks.register(check_production_settings)
