from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "商品目录"

    def ready(self):
        from . import price_lists

        price_lists.connect()  # which price list is in force follows the ORM's writes
