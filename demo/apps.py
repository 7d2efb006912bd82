from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data seeder (`seed_demo`, `demo_links`): at the top of the layers, it writes
    through the domain apps' services and models; no app imports it."""

    name = "demo"
    verbose_name = "演示数据"
