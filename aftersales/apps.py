from django.apps import AppConfig


class AfterSalesConfig(AppConfig):
    name = "aftersales"
    verbose_name = "售后"
