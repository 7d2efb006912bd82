"""A trigram index on the search key, so `LIKE '%xr%'` stays fast at 30,000 SKUs (PostgreSQL only)."""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS catalog_product_search_trgm ON catalog_product USING gin (search_key gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS catalog_product_search_trgm"]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_initial")]
    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
