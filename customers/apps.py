from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "客户"

    def ready(self):
        from . import schema  # noqa: F401 - registers the OpenAPI description of visitor tokens
