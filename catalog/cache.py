"""A short cache of which products a listing or search shows, invalidated by a catalogue version.

Picking a page's product ids is the costly part of a listing (a search scans every SKU's key);
stock and prices are not cached — the rows of the page are always read fresh, so "剩余 12 斤"
stays real-time. Any change to products or categories bumps the version, so new keys are used at
once; the TTL bounds what a change that bypassed the version (a raw SQL fix) can leave behind.
"""

from django.core.cache import cache
from django.db import connection, transaction

VERSION_KEY = "catalog:version"
LISTING_TTL_SECONDS = 60


def catalog_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY) or 1
    return version


# On PostgreSQL the version the product pages are kept under (catalog.listing) is also this
# sequence's value, read in the same statement as a page's stock: a kept page then costs no Redis
# round trip. nextval takes no lock and is not undone by a rollback (an extra bump is harmless).
LISTING_VERSION_SEQUENCE = "catalog_listing_version"


def catalog_changed() -> None:
    """Call after any change to what the shop lists (products, categories, on/off sale).

    Bumps the versions now and again after the transaction commits: a page rebuilt between the two
    (from rows that did not show the change yet) is kept under a version the second bump retires."""
    _bump()
    if connection.in_atomic_block:
        transaction.on_commit(_bump)


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version yet
        cache.add(VERSION_KEY, 2, timeout=None)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT nextval('{LISTING_VERSION_SEQUENCE}')")


def cached_listing(key: str, compute):
    full_key = f"catalog:listing:v{catalog_version()}:{key}"
    found = cache.get(full_key)
    if found is None:
        found = compute()
        cache.set(full_key, found, timeout=LISTING_TTL_SECONDS)
    return found
