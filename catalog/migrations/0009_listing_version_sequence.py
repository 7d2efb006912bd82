from django.db import migrations

SEQUENCE = "catalog_listing_version"  # catalog.cache.LISTING_VERSION_SEQUENCE


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


class Migration(migrations.Migration):
    """The catalogue version on PostgreSQL (catalog.cache): a sequence, bumped by nextval (no row
    lock, no transaction to wait for) and read with the page's stock in one statement."""

    dependencies = [
        ("catalog", "0008_pricelist_priority"),
    ]

    operations = [migrations.RunPython(create, drop)]
