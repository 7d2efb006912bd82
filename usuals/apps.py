from django.apps import AppConfig


class UsualsConfig(AppConfig):
    name = "usuals"
    verbose_name = "我的常购"
